"""Kong's router: which route, if any, a request matches.

Kong 3.x ``traditional_compatible`` semantics (``kong/router/compat.lua``,
``transform.lua``, ``atc.lua``, ``utils.lua``):

* a route with paths of different kinds is split, as Kong splits it: one sub-route for all
  its regex paths and one per prefix length, each with its own priority;
* priority, highest first (Kong's 64-bit priority, field by field): number of match fields
  set (methods, hosts, headers, paths, snis); only plain hosts (no wildcard); number of
  headers; a regex path; ``regex_priority`` (regex sub-routes only); prefix length; then
  the order in the file (Kong breaks that tie by route id, i.e. arbitrarily);
* paths are matched on Kong's normalized path; prefixes are plain ``startswith``; a regex
  ``~re`` is ``^re`` searched (so ``~/a|/b`` is ``^/a|/b``, as in Kong);
* hosts: exact (case-insensitive), ``*.example.com`` (suffix ``.example.com``),
  ``example.*`` (prefix ``example.``); ``host:port`` also requires the port;
* headers: any value of the request header (lower-cased) equals one of the configured
  values (lower-cased), or a ``~*re`` value (lower-cased, as Kong does) is found in it;
* ``protocols`` is not a match field in Kong's HTTP router: an https-only route requested
  over http still matches, and Kong then answers 426 or redirects (``RouteMatch``);
* ``snis`` only constrain https requests;
* the routes of a disabled service (``enabled: false``) are not routed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from .config import Route
from .snapshot import RouteContext
from .uri import escape, normalize
from .validators import compile_route_regex

_HTTP_SUBSYSTEM = frozenset(("http", "https", "grpc", "grpcs", "ws", "wss"))
_MAX_HEADER_COUNT = 255

_EXACT, _SUFFIX, _PREFIX = 0, 1, 2


@dataclass(frozen=True, slots=True)
class RouteMatch:
    route: Route
    context: RouteContext
    #: set when the route only accepts https and the request came over http: Kong then
    #: answers 426 {"message":"Please use HTTPS protocol"} (with ``Connection: Upgrade``,
    #: ``Upgrade: TLS/1.2, HTTP/1.1``) or redirects (301/302/307/308) to
    #: ``https://<host><request uri>`` instead of running the plugin.
    https_redirect_status_code: int | None = None


@dataclass(frozen=True, slots=True)
class _HostRule:
    kind: int  # _EXACT, _SUFFIX or _PREFIX
    value: str  # lower-case; for wildcards without the "*"
    port: int | None


@dataclass(frozen=True, slots=True)
class _HeaderRule:
    name: str  # lower-case, "_" as "-"
    values: frozenset[str]  # lower-case
    regexes: tuple[re.Pattern[str], ...]


@dataclass(frozen=True, slots=True)
class _Candidate:
    """One (sub-)route, compiled."""

    route: Route
    priority: tuple[int, ...]
    methods: frozenset[str] | None
    hosts: tuple[_HostRule, ...]
    prefixes: tuple[str, ...]
    regexes: tuple[tuple[str, re.Pattern[str]], ...]
    headers: tuple[_HeaderRule, ...]
    snis: frozenset[str] | None
    https_redirect: int | None  # the route is https-only
    upstream_base: str
    rank: int = 0  # position in the router's priority order (0 is best)


def _host_rule(host: str) -> _HostRule:
    name, port = host.lower(), None
    head, sep, tail = name.rpartition(":")
    if sep and tail.isdigit():
        name, port = head, int(tail)
    if name.startswith("*"):
        return _HostRule(_SUFFIX, name[1:], port)
    if name.endswith("*"):
        return _HostRule(_PREFIX, name[:-1], port)
    return _HostRule(_EXACT, name, port)


def _header_name(name: str) -> str:
    return name.lower().replace("_", "-")


def _path_groups(paths: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Kong's split of a route by path: all regexes together, prefixes by length."""
    if len(paths) <= 1:
        return [paths]
    groups: dict[object, list[str]] = {}
    for path in paths:
        key: object = "regex" if path.startswith("~") else len(path)
        groups.setdefault(key, []).append(path)
    return [tuple(group) for group in groups.values()]


def _compile(route: Route) -> list[_Candidate]:
    methods = frozenset(route.methods) or None
    hosts = tuple(_host_rule(h) for h in route.hosts)
    headers = tuple(
        _HeaderRule(
            _header_name(h.name),
            frozenset(v.lower() for v in h.values if not v.startswith("~*")),
            tuple(re.compile(v[2:].lower()) for v in h.values if v.startswith("~*")),
        )
        for h in route.headers
    )
    snis = frozenset(s[:-1] if len(s) > 1 and s.endswith(".") else s for s in route.snis) or None
    protocols = set(route.protocols)
    https_only = "https" in protocols and "http" not in protocols
    service = route.service
    upstream_base = "/"
    if service is not None and service.protocol in _HTTP_SUBSYSTEM:
        upstream_base = service.path or "/"

    weight_base = sum(1 for field in (methods, hosts, headers, snis) if field)
    plain_hosts = int(bool(hosts) and all(rule.kind == _EXACT for rule in hosts))
    header_count = min(len(headers), _MAX_HEADER_COUNT)
    candidates = []
    for group in _path_groups(route.paths):
        is_regex = bool(group) and group[0].startswith("~")
        length = 0 if is_regex or not group else len(group[0])
        priority = (
            weight_base + (1 if group else 0),
            plain_hosts,
            header_count,
            int(is_regex),
            route.regex_priority if is_regex else 0,
            length,
        )
        candidates.append(
            _Candidate(
                route=route,
                priority=priority,
                methods=methods,
                hosts=hosts,
                prefixes=() if is_regex else group,
                regexes=tuple((p, compile_route_regex(p[1:])) for p in group) if is_regex else (),
                headers=headers,
                snis=snis,
                https_redirect=route.https_redirect_status_code if https_only else None,
                upstream_base=upstream_base,
            )
        )
    return candidates


def _sanitize_postfix(postfix: str) -> str:
    if postfix in (".", ".."):
        return ""
    if postfix.startswith("./"):
        return postfix[2:]
    if postfix.startswith("../"):
        return postfix[3:]
    return postfix


def upstream_uri_v0(strip_path: bool, postfix: str, req_uri: str, base: str) -> str:
    """Kong's ``get_upstream_uri_v0`` (path_handling v0), unescaped."""
    if base.endswith("/"):
        if strip_path:
            if postfix == "":
                if base == "/":
                    return "/"
                if req_uri.endswith("/"):
                    return base
                return base[:-1]
            if postfix.startswith("/"):
                return base[:-1] + postfix
            return base + postfix
        return base + req_uri[1:]
    if strip_path:
        if postfix == "":
            if len(req_uri) > 1 and req_uri.endswith("/"):
                return base + "/"
            return base
        if postfix.startswith("/"):
            return base + postfix
        return base + "/" + postfix
    if req_uri == "/":
        return base
    return base + req_uri


def _needs_normalizing(path: str) -> bool:
    return "%" in path or "." in path or "//" in path


_REGEX_META = frozenset("\\.^$*+?()[]{}|")
_QUANTIFIERS = frozenset("*+?{")
#: key lengths tried for a path index (chars of the normalized path, "/" included)
_KEY_LENGTHS = (2, 3, 4, 5, 6, 8, 10, 12, 16, 24)
#: below this many candidates a plain scan is as fast as an index lookup
_INDEX_MIN = 16


def _literal_prefix(regex: str) -> str:
    """Text every match of ``^regex`` starts with ("" when that cannot be told simply)."""
    if "|" in regex:
        return ""
    literal = []
    for i, char in enumerate(regex):
        if char in _REGEX_META or (i + 1 < len(regex) and regex[i + 1] in _QUANTIFIERS):
            break
        literal.append(char)
    return "".join(literal)


def _required_starts(c: _Candidate) -> tuple[str, ...] | None:
    """Texts one of which a path must start with to match ``c`` (None: any path may)."""
    if c.prefixes:
        return c.prefixes
    if c.regexes:
        starts = tuple(_literal_prefix(configured[1:]) for configured, _ in c.regexes)
        return None if "" in starts else starts
    return None


class _PathIndex:
    """Candidates (in priority order) bucketed by the first characters of the path.

    A candidate whose every path starts with at least ``key_len`` known characters is
    only listed under those keys; the others are listed everywhere. The key length is the
    one that makes the longest list shortest.
    """

    __slots__ = ("_buckets", "_everywhere", "_key_len")

    def __init__(self, candidates: Sequence[_Candidate]) -> None:
        starts = [_required_starts(c) for c in candidates]
        self._key_len = 0
        if len(candidates) >= _INDEX_MIN:
            best_cost = len(candidates)
            for key_len in _KEY_LENGTHS:
                unkeyed = 0
                sizes: dict[str, int] = {}
                for texts in starts:
                    if texts is None or min(map(len, texts)) < key_len:
                        unkeyed += 1
                    else:
                        for key in {t[:key_len] for t in texts}:
                            sizes[key] = sizes.get(key, 0) + 1
                cost = unkeyed + max(sizes.values(), default=0)
                if cost < best_cost:
                    best_cost, self._key_len = cost, key_len
        key_len = self._key_len
        keyed = [
            texts if texts is not None and key_len and min(map(len, texts)) >= key_len else None
            for texts in starts
        ]
        self._everywhere = tuple(c for c, texts in zip(candidates, keyed, strict=True) if not texts)
        buckets: dict[str, list[_Candidate]] = {
            t[:key_len]: [] for texts in keyed if texts for t in texts
        }
        for c, texts in zip(candidates, keyed, strict=True):
            if texts:
                for key in {t[:key_len] for t in texts}:
                    buckets[key].append(c)
            else:
                for bucket in buckets.values():
                    bucket.append(c)
        self._buckets = {key: tuple(bucket) for key, bucket in buckets.items()}

    def lookup(self, path: str) -> tuple[_Candidate, ...]:
        if not self._key_len:
            return self._everywhere
        return self._buckets.get(path[: self._key_len], self._everywhere)


class Router:
    """Compiled once per config load; ``match`` is on every flow's hot path.

    Candidates are indexed twice: by exact request host (routes whose hosts are all exact
    are only candidates for those hosts; the others for every host), then by the first
    characters of the path (``_PathIndex``). ``match`` scans the host's candidates, then
    the any-host ones that rank above the host's best match.
    """

    def __init__(self, routes: Sequence[Route]) -> None:
        candidates = [
            candidate
            for route in routes
            if _HTTP_SUBSYSTEM.intersection(route.protocols)
            and (route.service is None or route.service.enabled)
            for candidate in _compile(route)
        ]
        # highest priority first, then file order (sorted() is stable)
        candidates.sort(key=lambda c: c.route.order)
        candidates.sort(key=lambda c: c.priority, reverse=True)
        candidates = [replace(c, rank=rank) for rank, c in enumerate(candidates)]
        any_host = [c for c in candidates if not c.hosts or any(h.kind != _EXACT for h in c.hosts)]
        by_host: dict[str, list[_Candidate]] = {}
        for c in candidates:
            if c.hosts and all(h.kind == _EXACT for h in c.hosts):
                for host in dict.fromkeys(h.value for h in c.hosts):
                    by_host.setdefault(host, []).append(c)
        self._any_host = _PathIndex(any_host)
        self._by_host = {host: _PathIndex(bucket) for host, bucket in by_host.items()}

    def match(
        self,
        *,
        method: str,
        scheme: str,
        host: str,
        port: int,
        path: str,
        headers: Sequence[tuple[str, str]],
        sni: str | None = None,
    ) -> RouteMatch | None:
        """The best route for the request by Kong's precedence, or None.

        ``host`` is lower-case without port; ``path`` is the raw path without query.
        ``sni`` is the TLS server name (defaults to ``host`` for https requests).
        """
        if not path:
            path = "/"
        norm = normalize(path, True) if _needs_normalizing(path) else path
        request = _Request(method, scheme, host, port, norm, headers, sni or host)
        found: _Found | None = None
        host_index = self._by_host.get(host)
        if host_index is not None:
            found = _first_match(host_index.lookup(norm), request, None)
        found = _first_match(self._any_host.lookup(norm), request, found) or found
        if found is None:
            return None
        return _result(found, request)


@dataclass(slots=True)
class _Request:
    method: str
    scheme: str
    host: str
    port: int
    path: str  # normalized
    raw_headers: Sequence[tuple[str, str]]
    sni: str
    headers: dict[str, list[str]] | None = None  # built on first use


@dataclass(frozen=True, slots=True)
class _Found:
    candidate: _Candidate
    matched_path: str | None
    matched_part: str | None
    captures: dict[str, str]


def _first_match(
    candidates: tuple[_Candidate, ...], req: _Request, better_than: _Found | None
) -> _Found | None:
    """The first candidate matching the request, if it ranks above ``better_than``."""
    limit = better_than.candidate.rank if better_than is not None else None
    for c in candidates:
        if limit is not None and c.rank > limit:
            return None
        if c.methods is not None and req.method not in c.methods:
            continue
        if c.hosts and not _host_matches(c.hosts, req.host, req.port):
            continue
        if c.snis is not None and req.scheme == "https" and req.sni not in c.snis:
            continue
        if c.headers:
            if req.headers is None:
                req.headers = _header_values(req.raw_headers)
            if not _headers_match(c.headers, req.headers):
                continue
        if c.regexes:
            for configured, pattern in c.regexes:
                m = pattern.search(req.path)
                if m is not None:
                    captures = {k: v for k, v in m.groupdict().items() if v is not None}
                    return _Found(c, configured, m.group(0), captures)
            continue
        if c.prefixes:
            for prefix in c.prefixes:
                if req.path.startswith(prefix):
                    return _Found(c, prefix, prefix, {})
            continue
        return _Found(c, None, None, {})
    return None


def _result(found: _Found, req: _Request) -> RouteMatch:
    c, norm = found.candidate, req.path
    route = c.route
    if route.strip_path and found.matched_part is not None:
        postfix = norm[len(found.matched_part) :]
    else:
        postfix = norm[1:]
    upstream = upstream_uri_v0(route.strip_path, _sanitize_postfix(postfix), norm, c.upstream_base)
    context = RouteContext(
        route_name=route.name,
        matched_path=found.matched_path,
        path_captures=found.captures,
        upstream_path=escape(upstream),
    )
    redirect = c.https_redirect if req.scheme != "https" else None
    return RouteMatch(route=route, context=context, https_redirect_status_code=redirect)


def _host_matches(rules: tuple[_HostRule, ...], host: str, port: int) -> bool:
    for rule in rules:
        if rule.port is not None and rule.port != port:
            continue
        if rule.kind == _EXACT:
            if host == rule.value:
                return True
        elif rule.kind == _SUFFIX:
            if host.endswith(rule.value):
                return True
        elif host.startswith(rule.value):
            return True
    return False


def _header_values(headers: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for name, value in headers:
        values.setdefault(_header_name(name), []).append(value.lower())
    return values


def _headers_match(rules: tuple[_HeaderRule, ...], request: dict[str, list[str]]) -> bool:
    for rule in rules:
        values = request.get(rule.name)
        if not values:
            return False
        if not any(
            value in rule.values or any(r.search(value) for r in rule.regexes) for value in values
        ):
            return False
    return True
