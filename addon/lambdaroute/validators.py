"""Kong's generic field validators (``kong/db/schema/typedefs.lua``, ``kong/tools/ip.lua``).

Each returns None when the value is valid, or Kong's error message.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

from .uri import normalize


class FieldError(Exception):
    """One invalid field of an entity: ``field`` is its path (``config.timeout``,
    ``paths[0]``), or "" for an entity-level check; ``message`` is Kong's message."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest choice, or "" when none is close."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def unknown_field(path: str, name: str, choices: Iterable[str]) -> FieldError:
    """Kong's "unknown field" for ``path``, with the closest known field name."""
    return FieldError(path, "unknown field" + did_you_mean(name, choices))


_IPV4 = re.compile(r"^(\d+)\.(\d+)\.(\d+)\.(\d+):?(\d*)$")
_IPV4_SHAPE = re.compile(r"^\d+\.\d+\.\d+\.\d+")
_HOSTNAME_CHARS = re.compile(r"^[0-9A-Za-z\-._]+$")
_IPV6_BRACKETED = re.compile(r"^\[([0-9A-Fa-f:.]+)\](?::(\d+))?$")
_IPV6_BARE = re.compile(r"^[0-9A-Fa-f:.]+$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_NAME = re.compile(r"^[0-9A-Za-z.\-_~\u0080-\U0010ffff]+$")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9\-_]+$")
_PATH_CHARS = re.compile(r"^/[0-9A-Za-z.\-_~/%:@!$&'()*+,;=]*$")
_BAD_PERCENT = re.compile(r"%.?.?")
_URL_SCHEME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9+\-.]*):")


def _host_kind(host: str) -> str:
    if host.count(":") > 1:
        return "ipv6"
    if _IPV4_SHAPE.match(host):
        return "ipv4"
    return "name"


def normalize_ip(host: str) -> tuple[str, int | None] | str:
    """Kong's ``normalize_ip``: (kind, port) of a host[:port], or an error message.

    The error for an out-of-range port is ``"invalid port number"``.
    """
    kind = _host_kind(host)
    if kind == "ipv4":
        m = _IPV4.match(host)
        if m is None or any(int(octet) > 255 for octet in m.groups()[:4]):
            return f"invalid ipv4 address: {host}"
        if m.group(5):
            port = int(m.group(5))
            return "invalid port number" if port > 65535 else ("ipv4", port)
        return ("ipv4", None)
    if kind == "ipv6":
        m = _IPV6_BRACKETED.match(host)
        if m is not None:
            if m.group(2):
                port = int(m.group(2))
                return "invalid port number" if port > 65535 else ("ipv6", port)
            return ("ipv6", None)
        if _IPV6_BARE.match(host):
            return ("ipv6", None)
        return f"invalid ipv6 address: {host}"
    name, port_value = host, None
    m = re.search(r":(\d+)$", host)
    if m is not None:
        name = host[: m.start()]
        port_value = int(m.group(1))
        if port_value > 65535:
            return "invalid port number"
    if not _HOSTNAME_CHARS.match(name):
        return f"invalid hostname: {host}"
    segments = name.split(".")
    for index, segment in enumerate(segments):
        if segment.endswith("-") or (segment == "" and index != len(segments) - 1):
            return f"invalid hostname: {host}"
    return ("name", port_value)


def validate_host(host: str) -> str | None:
    """``typedefs.host``: a host name or IP without a port."""
    result = normalize_ip(host)
    if isinstance(result, str) and result != "invalid port number":
        return f"invalid value: {host}"
    if result == "invalid port number" or (isinstance(result, tuple) and result[1] is not None):
        return "must not have a port"
    return None


def validate_route_host(host: str) -> str | None:
    """``typedefs.hosts`` elements: at most one wildcard, leftmost or rightmost label,
    an optional port."""
    if host.count("*") > 1:
        return "invalid wildcard: must have at most one wildcard"
    if "*" in host and not (host.startswith("*.") or host.endswith(".*")):
        return "invalid wildcard: must be placed at leftmost or rightmost label"
    result = normalize_ip(host.replace("*", "abc"))
    return result if isinstance(result, str) else None


def validate_sni(sni: str) -> str | None:
    result = normalize_ip(sni)
    if isinstance(result, str) and result != "invalid port number":
        return f"invalid value: {sni}"
    if isinstance(result, tuple) and result[0] != "name":
        return "must not be an IP"
    if result == "invalid port number" or (isinstance(result, tuple) and result[1] is not None):
        return "must not have a port"
    return None


def validate_url(url: str) -> str | None:
    """``typedefs.url``, with LuaSocket's lenient ``url.parse``."""
    rest = url.partition("#")[0]
    scheme = None
    m = _URL_SCHEME.match(rest)
    if m is not None:
        scheme = m.group(1)
        rest = rest[m.end() :]
    rest = rest.partition("?")[0]
    host = ""
    if rest.startswith("//"):
        authority = rest[2:].split("/", 1)[0]
        authority = authority.rpartition("@")[2]
        authority = re.sub(r":([^:\]]*)$", "", authority)
        host = authority
    if not host:
        return "missing host in url"
    if scheme is None:
        return "missing scheme in url"
    return None


def split_url(url: str) -> tuple[str | None, str, int | None, str | None]:
    """(scheme, host, port, path) of a service ``url`` shorthand (already validated)."""
    m = _URL_SCHEME.match(url)
    scheme = m.group(1) if m else None
    rest = url[m.end() :] if m else url
    rest = rest.partition("#")[0].partition("?")[0]
    authority, slash, path = rest[2:].partition("/")
    authority = authority.rpartition("@")[2]
    port: int | None = None
    pm = re.search(r":(\d*)$", authority)
    if pm is not None and not authority.endswith("]"):
        authority = authority[: pm.start()]
        port = int(pm.group(1)) if pm.group(1) else None
    return scheme, authority, port, (slash + path) if slash else None


def validate_uuid(value: str) -> str | None:
    return None if _UUID.match(value) else "expected a valid UUID"


def validate_name(name: str) -> str | None:
    """``typedefs.utf8_name`` (routes, services)."""
    if _NAME.match(name):
        return None
    return (
        f"invalid value '{name}': the only accepted ascii characters are alphanumerics "
        "or ., -, _, and ~"
    )


_URL_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def validate_url_id(url_id: str) -> str | None:
    """A Function URL id: one DNS label of ``<id>.lambda-url.<region>.on.aws`` (AWS's own
    ids are 32 lower-case letters and digits)."""
    if _URL_ID.match(url_id):
        return None
    return "invalid value: must be a DNS label of lower-case letters, digits and '-'"


def validate_header_name(name: str) -> str | None:
    if _HEADER_NAME.match(name):
        return None
    return f"bad header name '{name}', allowed characters are A-Z, a-z, 0-9, '_', and '-'"


def _validate_path_chars(path: str) -> tuple[str, str] | None:
    """``validate_path``: (error, kind) with kind "rfc3986" or "percent"."""
    if not _PATH_CHARS.match(path):
        return (
            f"invalid path: '{path}' (characters outside of the reserved list of RFC 3986 found)",
            "rfc3986",
        )
    raw = re.sub(r"%[0-9A-Fa-f]{2}", "___", path)
    if "%" in raw:
        bad = _BAD_PERCENT.search(raw)
        assert bad is not None
        return (f"invalid url-encoded value: '{bad.group(0)}'", "percent")
    return None


def validate_service_path(path: str) -> str | None:
    """``typedefs.path`` (a service's path)."""
    if not path.startswith("/"):
        return "should start with: /"
    if "//" in path:
        return "must not have empty segments"
    error = _validate_path_chars(path)
    return error[0] if error else None


def validate_route_path(path: str) -> str | None:
    """``typedefs.router_path`` without the regex check (done by the router compiler)."""
    if not (path.startswith("/") or path.startswith("~/")):
        return "should start with: / (fixed path) or ~/ (regex path)"
    if "//" in path:
        return "must not have empty segments"
    error = _validate_path_chars(path)
    if error is not None and error[1] == "percent":
        return error[0]
    if not path.startswith("~"):
        normalized = normalize(path, True)
        if normalized != path:
            return f"non-normalized path, consider use '{normalized}' instead"
    return None


_PCRE_NAMED_GROUP = re.compile(r"\(\?<(?=[A-Za-z_])")


def compile_route_regex(regex: str, flags: int = 0) -> re.Pattern[str]:
    """Compile a route regex (without its ``~``) as Kong's router uses it: ``^`` put in
    front (the match is anchored at the start), PCRE named groups ``(?<name>...)``
    accepted. Raises ``re.error``."""
    return re.compile("^" + _PCRE_NAMED_GROUP.sub("(?P<", regex), flags)
