#!/usr/bin/env python3
"""Micro-benchmark of ``Router.match`` (the per-flow routing cost) on a synthetic config.

Builds N routes of the usual kinds (exact hosts, wildcard hosts, prefixes, regexes with
named captures) and times ``match`` for requests that hit each kind and for a miss.
Prints microseconds per call (best of several repeats, so a busy machine matters less).

    .venv/bin/python scripts/bench_router.py            # 1,000 routes
    .venv/bin/python scripts/bench_router.py --routes 100
"""

from __future__ import annotations

import argparse
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "addon"))

from lambdaroute.config import HeaderMatch, Route
from lambdaroute.routing import Router


def build_routes(count: int) -> list[Route]:
    routes: list[Route] = []
    kinds = 5
    for i in range(count // kinds):
        routes += [
            Route(name=f"host{i}", hosts=(f"api{i}.example.com",), paths=(f"/v{i % 3}",)),
            Route(name=f"wild{i}", hosts=(f"*.t{i}.example.net",), paths=("/",)),
            Route(name=f"prefix{i}", paths=(f"/svc{i}/items", f"/svc{i}/orders")),
            Route(name=f"regex{i}", paths=(f"~/re{i}/(?<id>\\d+)$",)),
            Route(
                name=f"header{i}",
                paths=(f"/h{i}",),
                headers=(HeaderMatch("x-version", (str(i), "~*^beta")),),
            ),
        ]
    return [Route(**{**_fields(r), "order": n}) for n, r in enumerate(routes)]


def _fields(route: Route) -> dict[str, object]:
    return {name: getattr(route, name) for name in route.__slots__}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routes", type=int, default=1000)
    args = parser.parse_args()
    routes = build_routes(args.routes)
    started = timeit.default_timer()
    router = Router(routes)
    print(f"{len(routes)} routes compiled in {(timeit.default_timer() - started) * 1e3:.1f} ms")
    last = len(routes) // 5 - 1
    requests = {
        "exact host": (f"api{last}.example.com", f"/v{last % 3}/orders", ()),
        "wildcard host": (f"a.t{last}.example.net", "/x", ()),
        "prefix": ("other.test", f"/svc{last}/orders/42", ()),
        "regex capture": ("other.test", f"/re{last}/12345", ()),
        "header": ("other.test", f"/h{last}", (("X-Version", "beta-2"),)),
        "normalized path": ("other.test", f"/svc{last}/./items/%61", ()),
        "no match": ("other.test", "/nothing/here", ()),
    }
    for label, (host, path, headers) in requests.items():
        match = router.match(
            method="GET", scheme="http", host=host, port=80, path=path, headers=headers
        )
        timer = timeit.Timer(
            lambda h=host, p=path, hd=headers: router.match(
                method="GET", scheme="http", host=h, port=80, path=p, headers=hd
            )
        )
        number = 20000
        best = min(timer.repeat(repeat=5, number=number)) / number
        routed = match.route.name if match else None
        print(f"{label:16} {best * 1e6:7.2f} us  -> {routed}")


if __name__ == "__main__":
    main()
