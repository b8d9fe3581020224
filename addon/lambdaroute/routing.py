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

from collections.abc import Sequence
from dataclasses import dataclass, replace

from .config import Consumer, LambdaPluginConfig, Route
from .routing_candidates import (
    EXACT,
    HTTP_SUBSYSTEM,
    PREFIX,
    SUFFIX,
    Candidate,
    HeaderRule,
    HostRule,
    compile_route,
    header_name,
)
from .routing_index import PathIndex
from .snapshot import RouteContext
from .uri import escape, normalize, sanitize_postfix, upstream_uri_v0


@dataclass(frozen=True, slots=True)
class RouteMatch:
    route: Route
    context: RouteContext
    #: set when the route only accepts https and the request came over http: Kong then
    #: answers 426 {"message":"Please use HTTPS protocol"} (with ``Connection: Upgrade``,
    #: ``Upgrade: TLS/1.2, HTTP/1.1``) or redirects (301/302/307/308) to
    #: ``https://<host><request uri>`` instead of running the plugin.
    https_redirect_status_code: int | None = None


def _needs_normalizing(path: str) -> bool:
    return "%" in path or "." in path or "//" in path


class Router:
    """Compiled once per config load; ``match`` is on every flow's hot path.

    Candidates are indexed by host (exact hosts, ``*.suffix`` and ``prefix.*`` wildcards
    by their fixed part, routes without hosts apart), then by the text their paths must
    start with (``PathIndex``). ``match`` looks up the few candidate lists that can match
    and keeps the best-ranked match, stopping each list at the rank already found.
    """

    def __init__(self, routes: Sequence[Route]) -> None:
        candidates = [
            candidate
            for route in routes
            if HTTP_SUBSYSTEM.intersection(route.protocols)
            and (route.service is None or route.service.enabled)
            for candidate in compile_route(route)
        ]
        # highest priority first, then file order (sorted() is stable)
        candidates.sort(key=lambda c: c.route.order)
        candidates.sort(key=lambda c: c.priority, reverse=True)
        candidates = [replace(c, rank=rank) for rank, c in enumerate(candidates)]
        unindexed: list[Candidate] = []
        tables: tuple[dict[str, list[Candidate]], ...] = ({}, {}, {})
        for c in candidates:
            if not c.hosts or any(not _indexable(rule) for rule in c.hosts):
                unindexed.append(c)
                continue
            for rule in c.hosts:
                bucket = tables[rule.kind].setdefault(rule.value, [])
                if not bucket or bucket[-1] is not c:
                    bucket.append(c)
        self._any_host = PathIndex(unindexed)
        self._exact, self._suffix, self._prefix = (
            {value: PathIndex(bucket) for value, bucket in table.items()} for table in tables
        )

    def _indexes(self, host: str) -> list[PathIndex]:
        """The candidate indexes that can match this host."""
        found = []
        exact = self._exact.get(host)
        if exact is not None:
            found.append(exact)
        if self._suffix or self._prefix:
            dot = host.find(".")
            while dot != -1:
                suffix = self._suffix.get(host[dot:])
                if suffix is not None:
                    found.append(suffix)
                prefix = self._prefix.get(host[: dot + 1])
                if prefix is not None:
                    found.append(prefix)
                dot = host.find(".", dot + 1)
        found.append(self._any_host)
        return found

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
        for index in self._indexes(host):
            for candidates in index.lists(norm):
                found = _first_match(candidates, request, found) or found
        if found is None:
            return None
        return _result(found, request)


def _indexable(rule: HostRule) -> bool:
    """Wildcard rules are indexed by their fixed part, which must end at a dot."""
    if rule.kind == SUFFIX:
        return rule.value.startswith(".")
    if rule.kind == PREFIX:
        return rule.value.endswith(".")
    return True


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
    candidate: Candidate
    matched_path: str | None
    matched_part: str | None
    captures: dict[str, str]


#: no candidate ranks this low: the limit when nothing is found yet
_NO_LIMIT = 2**62


def _first_match(
    candidates: tuple[Candidate, ...], req: _Request, better_than: _Found | None
) -> _Found | None:
    """The first candidate matching the request, if it ranks above ``better_than``."""
    limit = better_than.candidate.rank if better_than is not None else _NO_LIMIT
    for c in candidates:
        if c.rank >= limit:
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
    upstream = upstream_uri_v0(route.strip_path, sanitize_postfix(postfix), norm, c.upstream_base)
    context = RouteContext(
        route_name=route.name,
        matched_path=found.matched_path,
        path_captures=found.captures,
        upstream_path=escape(upstream),
    )
    redirect = c.https_redirect if req.scheme != "https" else None
    return RouteMatch(route=route, context=context, https_redirect_status_code=redirect)


def _host_matches(rules: tuple[HostRule, ...], host: str, port: int) -> bool:
    for rule in rules:
        if rule.port is not None and rule.port != port:
            continue
        if rule.kind == EXACT:
            if host == rule.value:
                return True
        elif rule.kind == SUFFIX:
            if host.endswith(rule.value):
                return True
        elif host.startswith(rule.value):
            return True
    return False


def _header_values(headers: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for name, value in headers:
        values.setdefault(header_name(name), []).append(value.lower())
    return values


def _headers_match(rules: tuple[HeaderRule, ...], request: dict[str, list[str]]) -> bool:
    for rule in rules:
        values = request.get(rule.name)
        if not values:
            return False
        if not any(
            value in rule.values or any(r.search(value) for r in rule.regexes) for value in values
        ):
            return False
    return True


def request_protocol(tls: bool, content_type: str | None) -> str:
    """The protocol a plugin's ``protocols`` list is checked against."""
    grpc = content_type is not None and content_type.startswith("application/grpc")
    if grpc:
        return "grpcs" if tls else "grpc"
    return "https" if tls else "http"


def select_lambda_plugin(
    route: Route, consumer: Consumer | None, protocol: str
) -> LambdaPluginConfig | None:
    """The aws-lambda config that applies with Kong's precedence (consumer+route+service >
    consumer+route > consumer+service > route+service > consumer > route > service >
    global): the most specific one for this consumer; it runs if its ``protocols`` list
    the request's protocol. A Route built by hand (no chain) keeps its ``lambda_plugin``."""
    if not route.lambda_plugins:
        return route.lambda_plugin
    for plugin in route.lambda_plugins:
        if plugin.consumer is None or plugin.consumer == consumer:
            if protocol not in plugin.protocols:
                return None
            assert isinstance(plugin.config, LambdaPluginConfig)
            return plugin.config
    return None
