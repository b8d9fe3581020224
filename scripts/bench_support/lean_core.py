"""Scenario ``lean`` (issue 12): ``lambda-route --lean`` against plain ``mitmdump -s``.

Four proxies, all reverse mode, quiet (``-q``: mitmdump's Dumper and the lean flow log off,
as in the other scenarios), lazy connections:

    pass-full   mitmdump, no addon, to the upstream peer
    pass-lean   lambda-route --lean, an empty config (nothing routed), to the upstream peer
    stack-full  mitmdump -s addon/lambda_route.py, every request to the local Lambda server
    stack-lean  lambda-route --lean, the same config

The whole stack is the real local server (``local-lambda``, configs/functions.yaml's
``proxy`` function, API Gateway v1 + proxy integration). Rounds alternate the four, the
order rotating; ratios are medians of per-round ratios (with their range): req/s, and the
proxy process's CPU time per request, the steadier figure on a shared machine.
"""

from __future__ import annotations

import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from bench_support.drivers import LoadSpec, drive
from bench_support.environment import ROOT
from bench_support.procs import PYTHON, Proc, ProcessGroup, StartError, cpu_seconds, free_port
from bench_support.scenarios import Settings, check, medians

TARGETS = ("pass-full", "pass-lean", "stack-full", "stack-lean")

#: the whole stack's config: every request to ``function`` of the local server on ``port``
STACK_CONFIG = """\
_format_version: "3.0"
services:
  - name: bench
    url: http://127.0.0.1:9
    routes:
      - name: stack
        paths: [/]
        strip_path: false
        plugins:
          - name: aws-lambda
            config:
              function_name: {function}
              aws_region: us-east-1
              aws_key: test
              aws_secret: test
              host: 127.0.0.1
              port: {port}
              disable_https: true
              awsgateway_compatible: true
              is_proxy_integration: true
"""
EMPTY_CONFIG = '_format_version: "3.0"\n'


def start_local_lambda(group: ProcessGroup) -> Proc:
    argv = [PYTHON, "-m", "local_lambda", "--functions", str(ROOT / "configs" / "functions.yaml")]
    argv += ["--port", "0", "--quiet"]
    log = group.workdir / "local-lambda.log"
    with log.open("wb") as out:
        popen = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    proc = Proc("local-lambda", popen, 0, log)
    group.procs.append(proc)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if "listening on http://" in line:
                proc.port = int(line.rsplit(":", 1)[1])
                return proc
        if popen.poll() is not None:
            break
        time.sleep(0.1)
    raise StartError(f"local-lambda did not start:\n{proc.log_tail()}")


def start_proxies(group: ProcessGroup, upstream_port: int, lambda_port: int) -> dict[str, Proc]:
    stack = group.workdir / "lean-stack.yaml"
    stack.write_text(STACK_CONFIG.format(function="proxy", port=lambda_port))
    empty = group.workdir / "lean-empty.yaml"
    empty.write_text(EMPTY_CONFIG)
    addon = str(ROOT / "addon" / "lambda_route.py")
    proxies = {
        "pass-full": group.start_mitmdump("pass-full", upstream_port, []),
        "pass-lean": lean_proxy(group, "pass-lean", upstream_port, empty),
        "stack-full": group.start_mitmdump(
            "stack-full", upstream_port, ["-s", addon, "--set", f"lambda_config={stack}"]
        ),
        "stack-lean": lean_proxy(group, "stack-lean", upstream_port, stack),
    }
    for proc in proxies.values():
        group.wait_listening(proc)
    return proxies


def lean_proxy(group: ProcessGroup, name: str, upstream_port: int, config: Path) -> Proc:
    """Like group.start_mitmdump, with ``lambda-route CONFIG`` (the lean core) instead."""
    port = free_port()
    argv = [PYTHON, "-m", "lambdaroute", str(config), "-q", "--listen-host", "127.0.0.1"]
    argv += ["--listen-port", str(port), "--mode", f"reverse:http://127.0.0.1:{upstream_port}"]
    argv += ["--set", "connection_strategy=lazy"]
    popen, log = group._popen(name, argv, None)
    lean = Proc(name, popen, port, log)
    group.procs.append(lean)
    return lean


def measure(group: ProcessGroup, settings: Settings) -> dict[str, Any]:
    upstream = group.start_peer("lean-upstream", "upstream", _body(group.workdir))
    local = start_local_lambda(group)
    proxies = start_proxies(group, upstream.port, local.port)
    own = [upstream.pid, local.pid, *(p.pid for p in proxies.values())]
    runs: dict[str, list[dict[str, Any]]] = {t: [] for t in TARGETS}
    for round_index in range(settings.rounds):
        shift = round_index % len(TARGETS)
        for target in TARGETS[shift:] + TARGETS[:shift]:
            spec = LoadSpec(
                proxies[target].port,
                settings.throughput_connections,
                settings.throughput_duration,
                warmup=settings.warmup,
                path="/bench/items",
            )
            before = _tree_cpu(local.pid) if target.startswith("stack") else None
            # the function processes are the benchmark's, not other load
            ours = [*own, *_tree(local.pid)[1:]]
            result = drive(spec, settings.generator, proxies[target].pid, ours)
            if before is not None and result.get("rps"):
                # over the warm-up too, so per request at the measured rate: approximate
                served = result["rps"] * (settings.throughput_duration + settings.warmup)
                result["local_cpu_us_per_request"] = (_tree_cpu(local.pid) - before) * 1e6 / served
            runs[target].append(result)
    summary = {t: medians(r) for t, r in runs.items()}
    for target in ("stack-full", "stack-lean"):
        local_cpu = [
            r["local_cpu_us_per_request"] for r in runs[target] if "local_cpu_us_per_request" in r
        ]
        summary[target]["local_cpu_us_per_request"] = (
            statistics.median(local_cpu) if local_cpu else None
        )
    stack, stack_spread = _ratio(runs, "stack-lean", "stack-full")
    passthrough, pass_spread = _ratio(runs, "pass-lean", "pass-full")
    stack_cpu, stack_cpu_spread = _ratio(runs, "stack-full", "stack-lean", "cpu_us_per_request")
    pass_cpu, pass_cpu_spread = _ratio(runs, "pass-full", "pass-lean", "cpu_us_per_request")
    return {
        "generator": settings.generator,
        "connections": settings.throughput_connections,
        "rounds": settings.rounds,
        "targets": summary,
        "ratios": {
            "stack lean/full req/s": stack,
            "pass lean/full req/s": passthrough,
            "stack full/lean CPU per request": stack_cpu,
            "pass full/lean CPU per request": pass_cpu,
        },
        "spreads": {
            "stack lean/full req/s": stack_spread,
            "pass lean/full req/s": pass_spread,
            "stack full/lean CPU per request": stack_cpu_spread,
            "pass full/lean CPU per request": pass_cpu_spread,
        },
        "checks": [
            check("whole stack --lean/mitmdump -s req/s >= 1.8", stack, 1.8, at_least=True),
            check("passthrough --lean/mitmdump req/s >= 1.8", passthrough, 1.8, at_least=True),
        ],
    }


def _ratio(
    runs: dict[str, list[dict[str, Any]]], over: str, under: str, key: str = "rps"
) -> tuple[float | None, tuple[float, float] | None]:
    """The median of the per-round ratios ``over/under`` of ``key``, and their range."""
    pairs = [
        top[key] / bottom[key]
        for top, bottom in zip(runs[over], runs[under], strict=False)
        if top.get(key) and bottom.get(key) and not top.get("errors") and not bottom.get("errors")
    ]
    if not pairs:
        return None, None
    return round(statistics.median(pairs), 3), (round(min(pairs), 3), round(max(pairs), 3))


def _tree(pid: int) -> list[int]:
    """A process and its descendants (the local server's function processes)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent = int(stat[stat.rindex(")") + 2 :].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def _tree_cpu(pid: int) -> float:
    total = 0.0
    for member in _tree(pid):
        try:
            total += cpu_seconds(member)
        except OSError:  # exited meanwhile
            continue
    return total


def _body(workdir: Path) -> Path:
    body = workdir / "lean-upstream-body.json"
    body.write_text('{"ok": true}')
    return body


def render(result: dict[str, Any]) -> str:
    lines = [f"lean core ({result['connections']} connections, {result['rounds']} rounds):"]
    for target, summary in result["targets"].items():
        cpu = summary.get("cpu_us_per_request")
        lines.append(
            f"  {target:<11} {summary['rps'] or 0:8.0f} req/s  "
            f"p50 {summary['p50_ms'] or 0:6.1f} ms  "
            f"cpu {cpu or 0:6.0f} us/req  "
            f"other load {summary.get('other_load_cpus') or 0:4.2f} CPUs"
            + (
                f"  local server {summary['local_cpu_us_per_request']:6.0f} us/req"
                if summary.get("local_cpu_us_per_request")
                else ""
            )
        )
    for name, value in result["ratios"].items():
        spread = result.get("spreads", {}).get(name)
        rounds = f" (rounds {spread[0]}-{spread[1]})" if spread else ""
        lines.append(f"  {name}: {value}{rounds}")
    for item in result["checks"]:
        lines.append(f"  {item['target']}: {'met' if item['met'] else item['miss']}")
    return "\n".join(lines)
