"""The API Gateway resource a matched Kong route corresponds to (``resource`` /
``routeKey``) and the request's ``pathParameters``: a regex route's template
(``/site/{siteSlug}``) or a prefix route's greedy proxy resource (``/api/{proxy+}``)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import unquote

from .snapshot import IncomingRequest
from .uri import escape, normalize


@dataclass(frozen=True, slots=True)
class RouteShape:
    """The API Gateway resource a Kong route path corresponds to.

    A regex route (``~/site/(?<siteSlug>[^/]+)$``) has a fixed ``template``
    (``/site/{siteSlug}``); a prefix route (``/api``) is a greedy proxy resource
    (``/api/{proxy+}``) whose ``prefix`` is cut from the request path.
    """

    template: str | None
    prefix: str


def route_resource(request: IncomingRequest, *, decode: bool) -> tuple[str, dict[str, str]]:
    """(resource, pathParameters) for the request.

    Regex routes: the router's named captures (of Kong's normalized path), fully decoded
    in v2 as HTTP API does. Prefix routes: the greedy ``proxy`` parameter is the rest of
    the path after the prefix, percent-encoded like v1's ``path``, or decoded (v2).
    """
    shape = route_shape(request.route.matched_path)
    if shape.template is not None:
        captures = request.route.path_captures
        if decode:
            return shape.template, {name: unquote(value) for name, value in captures.items()}
        return shape.template, dict(captures)
    path, prefix = request.raw_path, shape.prefix
    if path.startswith(prefix):
        remainder = path[len(prefix) :]
    else:  # the router matched Kong's normalized path
        normalized = normalize(path)
        remainder = escape(normalized[len(prefix) :]) if normalized.startswith(prefix) else path
    remainder = remainder.lstrip("/")
    base = prefix.rstrip("/")
    if not remainder:
        return base or "/", {}
    return f"{base}/{{proxy+}}", {"proxy": unquote(remainder) if decode else remainder}


@lru_cache(maxsize=1024)
def route_shape(matched_path: str | None) -> RouteShape:
    """The resource shape of a route path as configured (cached: one per route path).

    Regex routes: the ``~`` and the ``^``/``$`` anchors are dropped, escaped characters
    unescaped, and each named group becomes ``{name}``, or ``{name+}`` when its pattern
    can match a ``/``. Other regex syntax is kept as written. A route with no path is
    the greedy root ``/{proxy+}``.
    """
    if not matched_path:
        return RouteShape(None, "/")
    if not matched_path.startswith("~"):
        return RouteShape(None, matched_path)
    return RouteShape(_regex_template(matched_path[1:]), "")


def _regex_template(pattern: str) -> str:
    out: list[str] = []
    i, end = 0, len(pattern)
    if pattern.startswith("^"):
        i = 1
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        end -= 1
    while i < end:
        char = pattern[i]
        if char == "\\" and i + 1 < end:
            out.append(pattern[i : i + 2] if pattern[i + 1].isalnum() else pattern[i + 1])
            i += 2
            continue
        name_start = _named_group_name_start(pattern, i)
        if name_start is not None:
            name_end = pattern.index(">", name_start)
            close = _group_close(pattern, i)
            greedy = _can_match_slash(pattern[name_end + 1 : close])
            out.append(f"{{{pattern[name_start:name_end]}{'+' if greedy else ''}}}")
            i = close + 1
            continue
        out.append(char)
        i += 1
    return "".join(out) or "/"


def _named_group_name_start(pattern: str, i: int) -> int | None:
    """Where the name of a ``(?<name>`` / ``(?P<name>`` / ``(?'name'`` group opening at
    ``i`` starts, else None (lookbehinds ``(?<=``, ``(?<!`` are not named groups)."""
    if pattern.startswith("(?P<", i):
        return i + 4
    if pattern.startswith("(?<", i) and pattern[i + 3 : i + 4] not in ("=", "!"):
        return i + 3
    return None


def _group_close(pattern: str, open_at: int) -> int:
    """Index of the ``)`` closing the group opened at ``open_at`` (escapes and character
    classes skipped); the pattern's end if it is unbalanced."""
    depth, i = 0, open_at
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if char == "[":
            i = _class_end(pattern, i)
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return len(pattern)


def _class_end(pattern: str, open_at: int) -> int:
    """Index of the ``]`` closing the character class opened at ``open_at``."""
    i = open_at + 1
    if pattern[i : i + 1] == "^":
        i += 1
    if pattern[i : i + 1] == "]":
        i += 1
    while i < len(pattern) and pattern[i] != "]":
        i += 2 if pattern[i] == "\\" else 1
    return i


def _can_match_slash(body: str) -> bool:
    """Whether a group's pattern can match ``/``: it has ``.``, a literal ``/``, ``\\S``,
    ``\\W`` or ``\\D``, a class holding ``/`` or a negated class without it."""
    i = 0
    while i < len(body):
        char = body[i]
        if char == "\\":
            if body[i + 1 : i + 2] in ("S", "W", "D", "/"):
                return True
            i += 2
            continue
        if char == "[":
            close = _class_end(body, i)
            if _class_matches_slash(body[i + 1 : close]):
                return True
            i = close + 1
            continue
        if char in "./":
            return True
        i += 1
    return False


def _class_matches_slash(members: str) -> bool:
    negated = members.startswith("^")
    if negated:
        members = members[1:]
    holds_slash = False
    i = 0
    while i < len(members):
        char = members[i]
        if char == "\\":
            escaped = members[i + 1 : i + 2]
            holds_slash = holds_slash or escaped in ("/", "S", "W", "D")
            char, i = escaped, i + 2
        else:
            i += 1
        if members[i : i + 1] == "-" and i + 1 < len(members):
            high = members[i + 1]
            holds_slash = holds_slash or char <= "/" <= high
            i += 2
        else:
            holds_slash = holds_slash or char == "/"
    return holds_slash != negated
