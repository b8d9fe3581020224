"""Kong's router (traditional_compatible): matching rules, precedence, normalization and
the upstream path, on routes loaded from real config files."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from lambdaroute import routing, routing_index
from lambdaroute.config import HeaderMatch, Route, load_config
from lambdaroute.routing import RouteMatch, Router
from lambdaroute.uri import escape, normalize, upstream_uri_v0


def router(tmp_path: Path, text: str) -> Router:
    path = tmp_path / "kong.yaml"
    path.write_text('_format_version: "3.0"\n' + textwrap.dedent(text))
    return Router(load_config(str(path)).routes)


def match(
    r: Router,
    path: str = "/",
    *,
    method: str = "GET",
    scheme: str = "http",
    host: str = "example.com",
    port: int = 80,
    headers: Sequence[tuple[str, str]] = (),
    sni: str | None = None,
) -> RouteMatch | None:
    return r.match(
        method=method, scheme=scheme, host=host, port=port, path=path, headers=headers, sni=sni
    )


def name(r: Router, path: str = "/", **kwargs: object) -> str | None:
    m = match(r, path, **kwargs)  # type: ignore[arg-type]
    return m.route.name if m else None


# --- hosts -----------------------------------------------------------------------------------


def test_hosts(tmp_path: Path) -> None:
    r = router(
        tmp_path,
        """
        routes:
          - {name: exact, hosts: [API.Example.com]}
          - {name: suffix, hosts: ["*.example.org"]}
          - {name: prefix, hosts: ["example.*"]}
          - {name: port, hosts: ["ported.test:8080"]}
        """,
    )
    assert name(r, host="api.example.com") == "exact"
    assert name(r, host="a.b.example.org") == "suffix"
    assert name(r, host="www.example.org") == "suffix"
    assert name(r, host="xexample.org") is None  # "*.example.org" needs ".example.org"
    assert name(r, host="example.net") == "prefix"
    assert name(r, host="myexample.net") is None
    assert name(r, host="ported.test", port=8080) == "port"
    assert name(r, host="ported.test", port=80) is None
    assert name(r, host="other.test") is None


def test_plain_host_beats_wildcard(tmp_path: Path) -> None:
    r = router(
        tmp_path,
        """
        routes:
          - {name: wild, hosts: ["*.example.com"], paths: [/]}
          - {name: plain, hosts: [api.example.com], paths: [/]}
        """,
    )
    assert name(r, host="api.example.com") == "plain"
    assert name(r, host="www.example.com") == "wild"


def test_wildcards_that_do_not_end_at_a_dot() -> None:
    """Not valid in a config file, but a Route built in code still matches."""
    r = Router([Route(name="odd", hosts=("*foo.com",)), Route(name="odd2", hosts=("api*",))])
    assert name(r, host="xfoo.com") == "odd"
    assert name(r, host="apix.test") == "odd2"


def test_route_with_exact_and_wildcard_hosts(tmp_path: Path) -> None:
    r = router(
        tmp_path,
        """
        routes:
          - {name: mixed, hosts: [a.test, "*.b.test"], paths: [/]}
          - {name: exact-b, hosts: [x.b.test], paths: [/x]}
        """,
    )
    assert name(r, host="a.test") == "mixed"
    assert name(r, host="y.b.test") == "mixed"
    assert name(r, "/x", host="x.b.test") == "exact-b"
    assert name(r, "/y", host="x.b.test") == "mixed"


# --- paths -----------------------------------------------------------------------------------


def test_prefix_is_not_segment_bound_and_longest_wins(tmp_path: Path) -> None:
    r = router(
        tmp_path,
        """
        routes:
          - {name: root, paths: [/]}
          - {name: foo, paths: [/foo]}
          - {name: foobar, paths: [/foo/bar]}
        """,
    )
    assert name(r, "/foobaz") == "foo"
    assert name(r, "/foo/bar/baz") == "foobar"
    assert name(r, "/foo/ba") == "foo"
    assert name(r, "/other") == "root"


def test_regex_beats_prefix_regardless_of_length(tmp_path: Path) -> None:
    r = router(
        tmp_path,
        """
        routes:
          - {name: long-prefix, paths: [/api/account/details]}
          - {name: regex, paths: ["~/api/.*"]}
        """,
    )
    assert name(r, "/api/account/details") == "regex"


def test_regex_priority_orders_regex_routes(tmp_path: Path) -> None:
    r = router(
        tmp_path,
        """
        routes:
          - {name: low, paths: ["~/items/\\\\d+"], regex_priority: 1}
          - {name: high, paths: ["~/items/.*"], regex_priority: 5}
          - {name: negative, paths: ["~/items/4.*"], regex_priority: -1}
        """,
    )
    assert name(r, "/items/42") == "high"


def test_regex_priority_does_not_affect_prefix_routes(tmp_path: Path) -> None:
    r = router(
        tmp_path,
        """
        routes:
          - {name: short, paths: [/], regex_priority: 100}
          - {name: long, paths: [/v1]}
        """,
    )
    assert name(r, "/v1/x") == "long"


def test_regex_is_anchored_at_the_start_only(tmp_path: Path) -> None:
    r = router(
        tmp_path,
        """
        routes:
          - {name: regex, paths: ["~/users/\\\\d+"]}
        """,
    )
    assert name(r, "/users/12/orders") == "regex"
    assert name(r, "/v1/users/12") is None


def test_named_captures(tmp_path: Path) -> None:
    r = router(
        tmp_path,
        """
        routes:
          - name: site
            paths: ["~/site/(?<slug>[^/]+)/(\\\\d+)(?<tail>/x)?$"]
        """,
    )
    m = match(r, "/site/home/7")
    assert m is not None
    assert m.context.matched_path == "~/site/(?<slug>[^/]+)/(\\d+)(?<tail>/x)?$"
    assert m.context.path_captures == {"slug": "home"}  # no numeric, no unmatched group
    m = match(r, "/site/home/7/x")
    assert m is not None and m.context.path_captures == {"slug": "home", "tail": "/x"}


def test_route_is_split_by_path_length_like_kong(tmp_path: Path) -> None:
    r = router(
        tmp_path,
        """
        routes:
          - {name: a, paths: [/a, /abc/long]}
          - {name: b, paths: [/abc]}
        """,
    )
    assert name(r, "/abc/long/x") == "a"  # a's 9-char prefix beats b's 4
    assert name(r, "/abc/x") == "b"  # b's 4-char prefix beats a's 2
    assert name(r, "/ax") == "a"


def test_route_with_regex_and_prefix_paths(tmp_path: Path) -> None:
    r = router(
        tmp_path,
        """
        routes:
          - {name: mixed, paths: ["/short", "~/re/\\\\d+"]}
          - {name: long, paths: [/short/longer]}
        """,
    )
    assert name(r, "/short/longer") == "long"
    assert name(r, "/re/1") == "mixed"
    m = match(r, "/short/x")
    assert m is not None and m.route.name == "mixed" and m.context.matched_path == "/short"


# --- normalization ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("/", "/"),
        ("/a/b", "/a/b"),
        ("/%61%62c", "/abc"),
        ("/a%2Fb", "/a%2Fb"),
        ("/a%2fb", "/a%2Fb"),
        ("/a%20b", "/a b"),
        ("/a%7e", "/a~"),
        ("/caf%C3%A9", "/café"),
        ("/a/./b", "/a/b"),
        ("/a/../b", "/b"),
        ("/a/%2e%2e/b", "/b"),
        ("/../a", "/a"),
        ("/a/b/..", "/a/"),
        ("/a//b///c", "/a/b/c"),
        ("/a/.", "/a/"),
    ],
)
def test_normalize(raw: str, normalized: str) -> None:
    assert normalize(raw) == normalized


def test_matching_uses_the_normalized_path(tmp_path: Path) -> None:
    r = router(
        tmp_path,
        """
        routes:
          - {name: admin, paths: [/admin]}
          - {name: root, paths: [/]}
        """,
    )
    assert name(r, "/%61dmin/x") == "admin"
    assert name(r, "/public/../admin") == "admin"
    assert name(r, "//admin") == "admin"
    assert name(r, "/admin%2Fx") == "admin"


@pytest.mark.parametrize(
    ("path", "escaped"),
    [("/a b", "/a%20b"), ("/café", "/caf%C3%A9"), ("/a%2Fb", "/a%2Fb"), ('/x"<>', "/x%22%3C%3E")],
)
def test_escape(path: str, escaped: str) -> None:
    assert escape(path) == escaped


# --- methods, headers, snis, protocols ---------------------------------------------------------


def test_methods(tmp_path: Path) -> None:
    r = router(
        tmp_path,
        """
        routes:
          - {name: post, methods: [POST, PUT], paths: [/m]}
          - {name: any, paths: [/m]}
        """,
    )
    assert name(r, "/m", method="POST") == "post"
    assert name(r, "/m", method="GET") == "any"
    assert name(r, "/m", method="post") == "any"  # methods are case-sensitive


def test_more_match_fields_win(tmp_path: Path) -> None:
    r = router(
        tmp_path,
        """
        routes:
          - {name: path-only, paths: [/very/long/prefix/here]}
          - {name: host-and-path, hosts: [example.com], paths: [/]}
        """,
    )
    assert name(r, "/very/long/prefix/here") == "host-and-path"


def test_headers(tmp_path: Path) -> None:
    r = router(
        tmp_path,
        """
        routes:
          - {name: v2, paths: [/], headers: {X-Version: ["2", "~*^beta-\\\\d$"]}}
          - {name: two, paths: [/], headers: {x-version: ["2"], x_tenant: [Acme]}}
          - {name: plain, paths: [/]}
        """,
    )
    assert name(r, headers=[("X-Version", "2")]) == "v2"
    assert name(r, headers=[("x-version", "BETA-7")]) == "v2"
    assert name(r, headers=[("x-version", "1"), ("X-VERSION", "2")]) == "v2"  # any value
    assert name(r, headers=[("x-version", "1, 2")]) == "plain"  # one line is one value
    assert name(r, headers=[("x-version", "2"), ("X-Tenant", "ACME")]) == "two"  # more headers
    assert name(r, headers=[("x-version", "3")]) == "plain"
    assert name(r) == "plain"


def test_header_regex_is_lowercased_like_kong(tmp_path: Path) -> None:
    """Kong lower-cases both the request value and the ``~*`` regex itself."""
    r = router(
        tmp_path,
        """
        routes:
          - {name: upper, paths: [/u], headers: {x-a: ["~*^[A-Z]+$"]}}
          - {name: not-digit, paths: [/d], headers: {x-a: ["~*^\\\\D+$"]}}
        """,
    )
    assert name(r, "/u", headers=[("x-a", "ABC")]) == "upper"
    assert name(r, "/u", headers=[("x-a", "abc1")]) is None
    # "\\D" became "\\d": Kong's quirk, kept on purpose
    assert name(r, "/d", headers=[("x-a", "123")]) == "not-digit"
    assert name(r, "/d", headers=[("x-a", "abc")]) is None


def test_snis_only_constrain_https(tmp_path: Path) -> None:
    r = router(
        tmp_path,
        """
        routes:
          - {name: sni, paths: [/], snis: [secure.test], protocols: [http, https]}
          - {name: fallback, paths: [/]}
        """,
    )
    assert name(r, scheme="https", host="x.test", sni="secure.test") == "sni"
    assert name(r, scheme="https", host="secure.test") == "sni"  # sni defaults to host
    assert name(r, scheme="https", host="x.test", sni="other.test") == "fallback"
    assert name(r, scheme="http", host="x.test") == "sni"  # not an https request


def test_https_only_route_over_http(tmp_path: Path) -> None:
    r = router(
        tmp_path,
        """
        routes:
          - {name: tls, paths: [/tls], protocols: [https]}
          - {name: moved, paths: [/moved], protocols: [https], https_redirect_status_code: 301}
          - {name: both, paths: [/both]}
        """,
    )
    m = match(r, "/tls")
    assert m is not None and m.route.name == "tls" and m.https_redirect_status_code == 426
    m = match(r, "/moved")
    assert m is not None and m.https_redirect_status_code == 301
    m = match(r, "/tls", scheme="https")
    assert m is not None and m.https_redirect_status_code is None
    m = match(r, "/both")
    assert m is not None and m.https_redirect_status_code is None


def test_stream_routes_are_not_http_routes(tmp_path: Path) -> None:
    r = router(
        tmp_path,
        """
        routes:
          - {name: tcp, protocols: [tcp], destinations: [{port: 80}]}
        """,
    )
    assert match(r) is None


def test_routes_of_a_disabled_service_do_not_exist(tmp_path: Path) -> None:
    """Kong #8113: a disabled service's routes behave as if they did not exist."""
    r = router(
        tmp_path,
        """
        services:
          - {name: paused, host: p.internal, enabled: false, routes: [{name: p, paths: [/x]}]}
        routes:
          - {name: fallback, paths: [/]}
        """,
    )
    assert name(r, "/x") == "fallback"


def test_file_order_breaks_ties(tmp_path: Path) -> None:
    r = router(
        tmp_path,
        """
        services:
          - name: s
            host: s.internal
            routes: [{name: first, paths: [/same]}]
        routes:
          - {name: second, paths: [/same]}
        """,
    )
    assert name(r, "/same") == "first"


def test_empty_path_is_root(tmp_path: Path) -> None:
    r = router(tmp_path, "routes: [{name: root, paths: [/]}]\n")
    m = match(r, "")
    assert m is not None and m.context.upstream_path == "/"


def test_no_routes(tmp_path: Path) -> None:
    assert match(Router([])) is None
    assert match(Router([Route(name=None, paths=("/x",))]), "/y") is None


# --- upstream path ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service_path", "route_path", "strip", "req_path", "upstream"),
    [
        # Kong's path_handling v0 table (service.path, route.paths, strip_path)
        ("/s", "/fv0", True, "/fv0/req", "/s/req"),
        ("/s", "/fv0", False, "/fv0/req", "/s/fv0/req"),
        ("/s", "/fv0", True, "/fv0", "/s"),
        ("/s", "/fv0", True, "/fv0/", "/s/"),
        ("/s", "/fv0/", True, "/fv0/", "/s/"),
        ("/s", "/fv0", True, "/fv0req", "/s/req"),
        ("/s/", "/fv0", True, "/fv0/req", "/s/req"),
        ("/s/", "/fv0", True, "/fv0", "/s"),
        ("/s/", "/fv0", True, "/fv0/", "/s/"),
        ("/s/", "/fv0", False, "/fv0/req", "/s/fv0/req"),
        ("/s/", "/fv0/", True, "/fv0/req", "/s/req"),
        ("/", "/fv0", True, "/fv0", "/"),
        ("/", "/fv0", True, "/fv0/req", "/req"),
        ("/", "/fv0", False, "/fv0/req", "/fv0/req"),
        ("/", "/", True, "/", "/"),
        ("/s", "/", False, "/", "/s"),
        (None, "/fv0", True, "/fv0/a%20b", "/a%20b"),
        ("/s", "/fv0", True, "/fv0./x", "/s/x"),
        ("/s", "/fv0", True, "/fv0/caf%C3%A9/%2F", "/s/caf%C3%A9/%2F"),
    ],
)
def test_upstream_path(
    tmp_path: Path,
    service_path: str | None,
    route_path: str,
    strip: bool,
    req_path: str,
    upstream: str,
) -> None:
    path_line = f"path: {service_path}" if service_path else ""
    r = router(
        tmp_path,
        f"""
        services:
          - name: s
            host: s.internal
            {path_line}
            routes: [{{name: r, paths: ["{route_path}"], strip_path: {str(strip).lower()}}}]
        """,
    )
    m = match(r, req_path)
    assert m is not None
    assert m.context.upstream_path == upstream
    assert m.context.matched_path == route_path and m.context.route_name == "r"


def test_upstream_path_of_a_regex_route_strips_the_whole_match(tmp_path: Path) -> None:
    r = router(
        tmp_path,
        """
        services:
          - name: s
            url: http://s.internal/base
            routes: [{name: r, paths: ["~/items/(?<id>\\\\d+)"]}]
        """,
    )
    m = match(r, "/items/42/detail")
    assert m is not None
    assert m.context.upstream_path == "/base/detail"
    assert m.context.path_captures == {"id": "42"}


def test_upstream_path_without_paths_or_service(tmp_path: Path) -> None:
    r = router(tmp_path, "routes: [{name: r, hosts: [example.com]}]\n")
    m = match(r, "/any/thing")
    assert m is not None
    assert m.context.matched_path is None
    assert m.context.upstream_path == "/any/thing"


def test_grpc_service_has_no_path(tmp_path: Path) -> None:
    r = router(
        tmp_path,
        """
        services:
          - name: g
            protocol: grpc
            host: g.internal
            routes: [{name: r, protocols: [grpc], paths: [/pkg.Svc]}]
        """,
    )
    m = match(r, "/pkg.Svc/Method")
    assert m is not None and m.context.upstream_path == "/pkg.Svc/Method"


@pytest.mark.parametrize(
    ("strip", "postfix", "req", "base", "expected"),
    [
        (True, "", "/x/", "/s/", "/s/"),
        (True, "", "/x", "/s/", "/s"),
        (True, "y", "/xy", "/s/", "/s/y"),
        (True, "y", "/xy", "/s", "/s/y"),
        (False, "", "/", "/s", "/s"),
        (False, "", "/a", "/s", "/s/a"),
    ],
)
def test_upstream_uri_v0(strip: bool, postfix: str, req: str, base: str, expected: str) -> None:
    assert upstream_uri_v0(strip, postfix, req, base) == expected


def test_realistic_file_routes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAMBDAROUTE_TEST_KEY", "k")
    monkeypatch.setenv("LAMBDAROUTE_TEST_SECRET", "s")
    config = load_config(str(Path(__file__).parent / "configs" / "kong-full.yaml"))
    r = Router(config.routes)
    m = match(r, "/invoices/17", host="billing.example.com")
    assert m is not None and m.route.name == "invoices"
    assert m.context.path_captures == {"invoice_id": "17"}
    assert m.context.upstream_path == "/api"  # Kong drops base's "/" when nothing is left
    assert name(r, "/invoices/x", host="billing.example.com") == "invoices"
    assert name(r, "/items", host="a.shop.example.com", headers=[("X-Version", "V2.1")]) == (
        "catalog-items"
    )
    assert name(r, "/items", host="a.shop.example.com") is None
    m = match(r, "/fn")
    assert m is not None and m.route.name == "serviceless" and m.https_redirect_status_code == 308


# --- the indexes must not change any result ----------------------------------------------


@pytest.mark.parametrize(
    ("regex", "literal"),
    [
        ("/users/(?<id>\\d+)", "/users/"),
        ("/items?/x", "/item"),
        ("/a{2}", "/"),
        ("/a|/b", ""),
        ("(?i)/x", ""),
        ("/v1\\.0/", "/v1"),
        ("/plain", "/plain"),
    ],
)
def test_literal_prefix(regex: str, literal: str) -> None:
    assert routing_index._literal_prefix(regex) == literal


def many_routes() -> list[Route]:
    routes = []
    for i in range(60):
        routes.append(Route(name=f"host{i}", hosts=(f"h{i % 7}.test",), paths=(f"/api/v{i}",)))
        routes.append(Route(name=f"prefix{i}", paths=(f"/svc{i}/items", f"/s{i}")))
        routes.append(Route(name=f"regex{i}", paths=(f"~/re{i % 9}/(?<id>\\d+)",)))
        routes.append(Route(name=f"wild{i}", hosts=(f"*.w{i % 5}.test",), paths=(f"/w{i}",)))
        routes.append(Route(name=f"pwild{i}", hosts=(f"h{i % 7}.*",), paths=(f"/p{i}",)))
        routes.append(
            Route(
                name=f"hdr{i}",
                paths=(f"/svc{i}",),
                methods=("POST",) if i % 2 else (),
                headers=(HeaderMatch("x-v", (str(i % 3),)),),
            )
        )
    routes.append(Route(name="alt", paths=("~/alt|/svc1",), regex_priority=3))
    routes.append(Route(name="catchall", paths=("/",)))
    return [replace(r, order=i) for i, r in enumerate(routes)]


REQUESTS = [
    (host, path)
    for host in ("h3.test", "x.w3.test", "other.test", "h0.test", "a.b.w4.test", "w4.test")
    for path in (
        "/api/v10",
        "/api/v3/x",
        "/svc12/items/9",
        "/svc1",
        "/s4",
        "/s45/x",
        "/re4/77",
        "/re4/x",
        "/w3",
        "/w33",
        "/alt",
        "/",
        "/zzz",
        "/a",
        "/p5",
        "/p50/x",
        "/p3",
        "/w4/x",
        "/w8",
    )
]


def test_indexes_do_not_change_results(monkeypatch: pytest.MonkeyPatch) -> None:
    routes = many_routes()
    indexed = Router(routes)
    # the reference: one list of every candidate in priority order, scanned in full
    monkeypatch.setattr(routing_index, "_INDEX_MIN", 10**9)
    monkeypatch.setattr(routing, "_indexable", lambda rule: False)
    scanned = Router(routes)
    assert not scanned._exact and not scanned._suffix
    assert indexed._any_host._by_start and scanned._any_host._everywhere  # really compared
    for host, path in REQUESTS:
        for method, headers in (("GET", ()), ("POST", (("X-V", "1"),)), ("GET", (("x-v", "2"),))):
            got = match(indexed, path, host=host, method=method, headers=headers)
            want = match(scanned, path, host=host, method=method, headers=headers)
            assert got == want, (host, path, method, headers)
    assert name(indexed, "/s45/x", host="other.test") == "prefix45"  # longest prefix
    # "~/alt|/svc1" is Kong's "^/alt|/svc1": the second branch is not anchored
    assert name(indexed, "/svc12/items/9", host="other.test") == "alt"
    assert name(indexed, "/api/v10", host="h3.test") == "host10"
    assert name(indexed, "/w32x", host="x.w2.test") == "wild32"
    assert name(indexed, "/w33", host="x.w2.test") == "catchall"  # wild3 wants *.w3.test
    assert name(indexed, "/zzz", host="h0.test") == "catchall"
