"""Scenario ``offline`` (issues 10 and 12): the local server behind the proxy against
serverless-offline, with the same Python and Node.js handlers (bench_support/functions/).

Systems, each a fresh set of processes on loopback, routes /py/... and /node/... (API
Gateway REST events, proxy integration):

    sls-offline   npm serverless@3 + serverless-offline@13 (`sls offline start`), installed
                  by the benchmark into a temporary directory (--sls-dir: a kept one)
    stack-full    mitmdump -s addon/lambda_route.py + the local server
    stack-lean    lambda-route --lean + the local server

Measured: cold start (processes launched -> the first answer of each handler), requests/s
and p50 at the throughput scenario's connections (rounds alternate the systems), CPU per
request of the whole process tree (servers, proxies, workers), RSS of the tree after the
load, and the first request after editing the handler (edit -> the first answer with the
new body). serverless-offline keeps a handler loaded unless started with --reloadHandler,
so a fourth system, sls-reload, is that flag, for the edit measurement only.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import time
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench_support.drivers import LoadSpec, drive
from bench_support.lean_core import lean_proxy
from bench_support.procs import Proc, ProcessGroup, free_port
from bench_support.scenarios import Settings, check
from bench_support.sls_install import install, installed_versions
from bench_support.stacks import (
    BODY,
    copy_functions,
    start_local_lambda,
    tree_cpu_seconds,
    tree_rss_kib,
)

SYSTEMS = ("sls-offline", "stack-full", "stack-lean")
CONNECTIONS = 8
"""Not the throughput scenario's 32: serverless-offline's Python runner (a process per
concurrent request) stalls for seconds at 32 on 2 busy cores, which would say nothing."""
HANDLERS = {"py": "handler.py", "node": "index.js"}
SERVERLESS_YML = """\
service: bench
frameworkVersion: "3"
provider: {name: aws, runtime: python3.11, region: us-east-1, stage: dev}
plugins: [serverless-offline]
functions:
  py:
    handler: handler.handler
    events: [{http: {path: "py/{proxy+}", method: any}}]
  node:
    handler: index.handler
    runtime: nodejs20.x
    events: [{http: {path: "node/{proxy+}", method: any}}]
"""
ROUTES_CONFIG = """\
_format_version: "3.0"
services:
  - name: bench
    url: http://127.0.0.1:9
    routes:
""" + "".join(
    f"""      - name: {name}
        paths: [/{name}/]
        plugins:
          - name: aws-lambda
            config: {{function_name: {name}, aws_region: us-east-1, aws_key: test,
              aws_secret: test, host: 127.0.0.1, port: {{port}}, disable_https: true,
              awsgateway_compatible: true, is_proxy_integration: true}}
"""
    for name in HANDLERS
)
SLS_ENV = {
    "SLS_TELEMETRY_DISABLED": "1",
    "SLS_NOTIFICATIONS_MODE": "off",
    "SLS_DEPRECATION_DISABLE": "*",
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
}


def measure(group: ProcessGroup, settings: Settings, sls_dir: Path | None = None) -> dict[str, Any]:
    sls_dir = sls_dir or group.workdir / "sls"
    started = time.monotonic()
    skipped = install(sls_dir)
    if skipped:
        return {"skipped": skipped}
    install_s = time.monotonic() - started
    systems: dict[str, dict[str, Any]] = {}
    cold = {}
    idle = {}
    for name in (*SYSTEMS, "sls-reload"):  # one at a time: each cold start on a quiet machine
        systems[name] = _start(group, name, sls_dir)
        cold[name] = _cold_start(systems[name])
        idle[name] = round(tree_rss_kib(systems[name]["roots"]) / 1024, 1)
    for name in SYSTEMS:  # fill the worker pools (both: one worker per concurrent call)
        for handler in HANDLERS:
            warm = LoadSpec(systems[name]["proxy"].port, CONNECTIONS, 2.0)
            drive(replace(warm, warmup=0, path=f"/{handler}/warm"), settings.generator)
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for handler in HANDLERS:
        for round_index in range(settings.rounds):
            order = SYSTEMS[round_index % 3 :] + SYSTEMS[: round_index % 3]
            for name in order:
                run = _load(systems[name], handler, settings)
                runs.setdefault((name, handler), []).append(run)
    memory = {name: tree_rss_kib(systems[name]["roots"]) for name in systems}  # after load
    reload = {
        name: {handler: _reload(systems[name], handler) for handler in HANDLERS}
        for name in ("sls-offline", "sls-reload", "stack-full", "stack-lean")
    }
    table = {f"{name} {handler}": _median(results) for (name, handler), results in runs.items()}
    checks = []
    for master in ("full", "lean"):
        for handler in HANDLERS:
            ours = table.get(f"stack-{master} {handler}", {}).get("rps")
            theirs = table.get(f"sls-offline {handler}", {}).get("rps")
            value = round(ours / theirs, 3) if ours and theirs else None
            checks.append(
                check(
                    f"stack-{master}/sls-offline req/s >= 0.5 ({handler})",
                    value,
                    0.5,
                    at_least=True,
                )
            )
    return {
        "connections": CONNECTIONS,
        "rounds": settings.rounds,
        "duration_s": settings.throughput_duration,
        "npm_install_s": round(install_s, 1),
        "versions": installed_versions(sls_dir),
        "cold_start_ms": cold,
        "load": table,
        "idle_rss_mib": idle,
        "rss_mib": {name: round(kib / 1024, 1) for name, kib in memory.items()},
        "reload_ms": reload,
        "checks": checks,
    }


def _start(group: ProcessGroup, name: str, sls_dir: Path) -> dict[str, Any]:
    """Launch a system; the clock of its cold start starts here."""
    launched = time.monotonic()
    if name.startswith("sls"):
        service = group.workdir / name
        service.mkdir()
        (service / "node_modules").symlink_to(sls_dir / "node_modules")
        for file in HANDLERS.values():
            shutil.copy(copy_functions(group.workdir) / file, service / file)
        (service / "serverless.yml").write_text(SERVERLESS_YML)
        port = free_port()
        argv = [str(sls_dir / "node_modules" / ".bin" / "sls"), "offline", "start"]
        argv += ["--host", "127.0.0.1", "--httpPort", str(port), "--noPrependStageInUrl"]
        for option in ("--lambdaPort", "--websocketPort", "--albPort"):
            argv += [option, str(free_port())]
        if name == "sls-reload":
            argv.append("--reloadHandler")
        log = group.workdir / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                argv,
                cwd=service,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **SLS_ENV},
                start_new_session=True,
            )
        proc = Proc(name, popen, port, log)
        group.procs.append(proc)
        return {
            "name": name,
            "proxy": proc,
            "roots": [proc.pid],
            "code": service,
            "launched": launched,
        }
    code = group.workdir / f"{name}-code"
    shutil.copytree(copy_functions(group.workdir), code)
    local = start_local_lambda(group, code / "functions.yaml", f"{name}-local-lambda")
    config = group.workdir / f"{name}.yaml"
    config.write_text(ROUTES_CONFIG.replace("{port}", str(local.port)))
    free = free_port()  # nothing listens there: an unrouted request would fail
    if name == "stack-lean":
        proxy = lean_proxy(group, name, free, config)
    else:
        addon = Path(__file__).resolve().parents[2] / "addon" / "lambda_route.py"
        proxy = group.start_mitmdump(
            name, free, ["-s", str(addon), "--set", f"lambda_config={config}"]
        )
    return {
        "name": name,
        "proxy": proxy,
        "roots": [proxy.pid, local.pid],
        "code": code,
        "launched": launched,
    }


def _get(port: int, path: str, timeout: float = 10.0) -> bytes | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.read() if r.status == 200 else None
    except OSError:
        return None


def _cold_start(system: dict[str, Any]) -> dict[str, float | None]:
    """ms from launch to the first good answer of each handler (the first request to a
    handler is its cold start in both: our server warms one worker at start-up)."""
    result: dict[str, float | None] = {}
    port = system["proxy"].port
    for handler in HANDLERS:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if _get(port, f"/{handler}/cold") == BODY:
                result[handler] = round((time.monotonic() - system["launched"]) * 1000)
                break
            time.sleep(0.02)
        else:
            result[handler] = None
    return result


def _load(system: dict[str, Any], handler: str, settings: Settings) -> dict[str, Any]:
    port, path = system["proxy"].port, f"/{handler}/bench/items"
    spec = LoadSpec(
        port,
        CONNECTIONS,
        settings.throughput_duration,
        warmup=0,
        path=path,
        timeout=10,
    )
    drive(
        LoadSpec(port, spec.connections, settings.warmup, warmup=0, path=path), settings.generator
    )
    before = tree_cpu_seconds(system["roots"])
    result = drive(spec, settings.generator)
    used = tree_cpu_seconds(system["roots"]) - before
    result["tree_cpu_us_per_request"] = (
        used * 1e6 / result["requests"] if result["requests"] else None
    )
    return result


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    def median(key: str) -> float | None:
        values = [r[key] for r in runs if r.get(key) is not None]
        return round(statistics.median(values), 3) if values else None

    return {
        "rps": median("rps"),
        "p50_ms": median("p50_ms"),
        "cpu_us_per_request": median("tree_cpu_us_per_request"),
        "errors": sum(r["errors"] for r in runs),
        "runs_rps": [round(r["rps"]) for r in runs],
    }


def _reload(system: dict[str, Any], handler: str, limit: float = 10.0) -> float | None:
    """ms from an edit of the handler file to the first answer with the new body (None:
    not within ``limit`` s); the edit is undone afterwards, and awaited the same way."""
    file = system["code"] / HANDLERS[handler]
    original = file.read_text()
    result = None
    for text, body in (
        (original.replace("true", '"edited"'), b'{"ok": "edited"}'),
        (original, BODY),
    ):
        file.write_text(text)
        edited = time.monotonic()
        elapsed = None
        while time.monotonic() - edited < limit:
            if _get(system["proxy"].port, f"/{handler}/reload") == body:
                elapsed = round((time.monotonic() - edited) * 1000)
                break
            time.sleep(0.005)
        if result is None and body != BODY:
            result = elapsed
        if elapsed is None:
            break
    return result


def render(result: dict[str, Any]) -> str:
    if "skipped" in result:
        return f"  SKIPPED: {result['skipped']}"
    versions = ", ".join(f"{k} {v}" for k, v in result["versions"].items())
    lines = [
        f"against {versions} (npm install {result['npm_install_s']} s); "
        f"{result['connections']} connections, {result['rounds']} rounds of "
        f"{result['duration_s']:g} s; CPU: the whole process tree per request",
        f"  {'system handler':<18} {'req/s':>7} {'p50 ms':>8} {'CPU us/req':>10} errors  "
        "req/s per round",
    ]
    for name, s in result["load"].items():
        lines.append(
            f"  {name:<18} {s['rps'] or 0:7.0f} {s['p50_ms'] or 0:8.2f} "
            f"{s['cpu_us_per_request'] or 0:10.0f} {s['errors']:6}  {s['runs_rps']}"
        )
    for name, cold in result["cold_start_ms"].items():
        reload = result["reload_ms"].get(name, {})
        lines.append(
            f"  {name:<12} cold start py {cold.get('py')} ms, node {cold.get('node')} ms; "
            f"first answer after an edit: py {_ms(reload.get('py'))}, "
            f"node {_ms(reload.get('node'))}; RSS {result['idle_rss_mib'][name]} MiB idle, "
            f"{result['rss_mib'][name]} MiB after the load"
        )
    for item in result["checks"]:
        lines.append(
            f"  [{'met   ' if item['met'] else 'MISSED'}] {item['target']}: "
            f"{item['value']}" + (f"  ({item['miss']})" if item["miss"] else "")
        )
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "not within 10 s" if value is None else f"{value:.0f} ms"
