"""Shared by the ``runtimes`` and ``offline`` scenarios: the benchmark's functions, the
local server and proxies in front of it, and CPU/RSS of whole process trees (a server and
its workers)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from bench_support.environment import ROOT
from bench_support.lean_core import STACK_CONFIG, lean_proxy
from bench_support.procs import PYTHON, Proc, ProcessGroup, StartError, cpu_seconds

FUNCTIONS = Path(__file__).resolve().parent / "functions"
BODY = b'{"ok": true}'
"""What every handler answers (in proxy-integration format) and the upstream sends."""


def copy_functions(workdir: Path) -> Path:
    """A private copy of the functions (the offline scenario edits the handler)."""
    target = workdir / "functions"
    shutil.copytree(FUNCTIONS, target, dirs_exist_ok=True)
    return target


def start_local_lambda(group: ProcessGroup, functions_yaml: Path, name: str) -> Proc:
    argv = [PYTHON, "-m", "local_lambda", "--functions", str(functions_yaml), "--port", "0"]
    log = group.workdir / f"{name}.log"
    with log.open("wb") as out:
        popen = subprocess.Popen([*argv, "--quiet"], stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    proc = Proc(name, popen, 0, log)
    group.procs.append(proc)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if "listening on http://" in line:
                proc.port = int(line.rsplit(":", 1)[1])
                return proc
        if popen.poll() is not None:
            break
        time.sleep(0.02)
    raise StartError(f"{name} did not start:\n{proc.log_tail()}")


def start_stack(
    group: ProcessGroup, name: str, master: str, function: str, lambda_port: int, upstream: int
) -> Proc:
    """mitmdump -s addon (master "full") or lambda-route --lean ("lean"), every request
    routed to ``function`` on the local server (API Gateway v1, proxy integration)."""
    config = group.workdir / f"{name}.yaml"
    config.write_text(STACK_CONFIG.format(function=function, port=lambda_port))
    if master == "lean":
        return lean_proxy(group, name, upstream, config)
    addon = ["-s", str(ROOT / "addon" / "lambda_route.py"), "--set", f"lambda_config={config}"]
    return group.start_mitmdump(name, upstream, addon)


def start_passthrough(group: ProcessGroup, name: str, master: str, upstream: int) -> Proc:
    if master == "lean":
        empty = group.workdir / "empty.yaml"
        empty.write_text('_format_version: "3.0"\n')
        return lean_proxy(group, name, upstream, empty)
    return group.start_mitmdump(name, upstream, [])


def upstream_body(workdir: Path) -> Path:
    body = workdir / "upstream-body.json"
    body.write_bytes(BODY)
    return body


def process_tree(roots: Iterable[int]) -> list[int]:
    """The roots and all their descendants that are alive now."""
    children: dict[int, list[int]] = defaultdict(list)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        children[int(stat[stat.rindex(")") + 2 :].split()[1])].append(int(entry))
    found, pending = [], list(roots)
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(children.get(pid, ()))
    return found


def tree_cpu_seconds(roots: Iterable[int]) -> float:
    total = 0.0
    for pid in process_tree(roots):
        with contextlib.suppress(OSError, IndexError):  # ended meanwhile
            total += cpu_seconds(pid)
    return total


def tree_rss_kib(roots: Iterable[int]) -> int:
    total = 0
    for pid in process_tree(roots):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total
