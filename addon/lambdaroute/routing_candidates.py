"""Routes compiled into match candidates with Kong's priority (``kong/router/compat.lua``,
``transform.lua``): a route with paths of different kinds is split into one candidate for
all its regex paths and one per prefix length, each with its own priority."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .config import Route
from .validators import compile_route_regex

HTTP_SUBSYSTEM = frozenset(("http", "https", "grpc", "grpcs", "ws", "wss"))
_MAX_HEADER_COUNT = 255

EXACT, SUFFIX, PREFIX = 0, 1, 2


@dataclass(frozen=True, slots=True)
class HostRule:
    kind: int  # EXACT, SUFFIX or PREFIX
    value: str  # lower-case; for wildcards without the "*"
    port: int | None


@dataclass(frozen=True, slots=True)
class HeaderRule:
    name: str  # lower-case, "_" as "-"
    values: frozenset[str]  # lower-case
    regexes: tuple[re.Pattern[str], ...]


@dataclass(frozen=True, slots=True)
class Candidate:
    """One (sub-)route, compiled."""

    route: Route
    priority: tuple[int, ...]
    methods: frozenset[str] | None
    hosts: tuple[HostRule, ...]
    prefixes: tuple[str, ...]
    regexes: tuple[tuple[str, re.Pattern[str]], ...]
    headers: tuple[HeaderRule, ...]
    snis: frozenset[str] | None
    https_redirect: int | None  # the route is https-only
    upstream_base: str
    rank: int = 0  # position in the router's priority order (0 is best)


def _host_rule(host: str) -> HostRule:
    name, port = host.lower(), None
    head, sep, tail = name.rpartition(":")
    if sep and tail.isdigit():
        name, port = head, int(tail)
    if name.startswith("*"):
        return HostRule(SUFFIX, name[1:], port)
    if name.endswith("*"):
        return HostRule(PREFIX, name[:-1], port)
    return HostRule(EXACT, name, port)


def header_name(name: str) -> str:
    return name.lower().replace("_", "-")


def _path_groups(paths: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Kong's split of a route by path: all regexes together, prefixes by length."""
    if len(paths) <= 1:
        return [paths]
    groups: dict[object, list[str]] = {}
    for path in paths:
        key: object = "regex" if path.startswith("~") else len(path.encode())
        groups.setdefault(key, []).append(path)
    return [tuple(group) for group in groups.values()]


def compile_route(route: Route) -> list[Candidate]:
    methods = frozenset(route.methods) or None
    hosts = tuple(_host_rule(h) for h in route.hosts)
    headers = tuple(
        HeaderRule(
            header_name(h.name),
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
    if service is not None and service.protocol in HTTP_SUBSYSTEM:
        upstream_base = service.path or "/"

    weight_base = sum(1 for field in (methods, hosts, headers, snis) if field)
    plain_hosts = int(bool(hosts) and all(rule.kind == EXACT for rule in hosts))
    header_count = min(len(headers), _MAX_HEADER_COUNT)
    candidates = []
    for group in _path_groups(route.paths):
        is_regex = bool(group) and group[0].startswith("~")
        length = 0 if is_regex or not group else len(group[0].encode())  # Lua: bytes
        priority = (
            weight_base + (1 if group else 0),
            plain_hosts,
            header_count,
            int(is_regex),
            route.regex_priority if is_regex else 0,
            length,
        )
        candidates.append(
            Candidate(
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
