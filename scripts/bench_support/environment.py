"""One benchmark environment: the two peers and the mitmdump targets A, B and C, all
answering the same bytes, started together and checked with one probe request each."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .procs import SUPPORT, Proc, ProcessGroup, StartError

ROOT = SUPPORT.parent.parent
#: the addon under test, as users run it
ADDON_SHIM = ROOT / "addon" / "lambda_route.py"
BENCH_CONFIG = ROOT / "configs" / "bench.yaml"
TARGETS = {"A": "passthrough", "B": "synthetic addon", "C": "lambda-route"}
PROBE_PATH = "/bench/probe?check=1"


def small_body() -> bytes:
    return b'{"ok":true,"message":"hello from the benchmark","items":[1,2,3]}'


def sized_body(size: int) -> bytes:
    """A JSON document of exactly ``size`` bytes (size >= 12)."""
    return b'{"data":"' + b"x" * (size - 11) + b'"}'


@dataclass(slots=True)
class Environment:
    body: bytes
    delay: float
    upstream: Proc
    lambda_peer: Proc
    #: the targets that started and passed the probe
    targets: dict[str, Proc] = field(default_factory=dict)
    #: why a requested target is missing
    failures: dict[str, str] = field(default_factory=dict)

    def pids(self) -> list[int]:
        """Every process of this environment (all of them are the benchmark's own load)."""
        return [self.upstream.pid, self.lambda_peer.pid, *(p.pid for p in self.targets.values())]


def write_lambda_config(workdir: Path, lambda_port: int) -> Path:
    """A copy of configs/bench.yaml pointing every aws-lambda plugin at ``lambda_port``."""
    document = yaml.safe_load(BENCH_CONFIG.read_text())
    for plugin in _aws_lambda_plugins(document):
        plugin["config"]["port"] = lambda_port
    path = workdir / f"bench-lambda-{lambda_port}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def bench_plugin_config() -> dict[str, Any]:
    """The aws-lambda plugin config of configs/bench.yaml, as a dict."""
    plugins = list(_aws_lambda_plugins(yaml.safe_load(BENCH_CONFIG.read_text())))
    config: dict[str, Any] = plugins[0]["config"]
    return config


def _aws_lambda_plugins(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if node.get("name") == "aws-lambda" and isinstance(node.get("config"), dict):
            yield node
        for value in node.values():
            yield from _aws_lambda_plugins(value)
    elif isinstance(node, list):
        for value in node:
            yield from _aws_lambda_plugins(value)


def start_environment(
    group: ProcessGroup,
    *,
    targets: list[str],
    body: bytes,
    delay: float = 0.0,
    label: str = "env",
    profile_dir: Path | None = None,
    addon_shim: Path = ADDON_SHIM,
) -> Environment:
    """Start peers and targets; a target that fails to start or to answer the probe is
    recorded in ``failures`` (with the tail of its log), the others run. With
    ``profile_dir``, every target runs under cProfile (stats in ``<dir>/<target>.prof``)."""
    body_file = group.workdir / f"{label}-body.json"
    body_file.write_bytes(body)
    upstream = group.start_peer(f"{label}-upstream", "upstream", body_file, delay)
    lambda_peer = group.start_peer(f"{label}-lambda", "lambda", body_file, delay)
    env = Environment(body, delay, upstream, lambda_peer)
    started: dict[str, Proc] = {}
    for target in targets:
        extra = _target_args(target, group.workdir, body_file, delay, lambda_peer.port, addon_shim)
        if extra is None:
            env.failures[target] = f"{addon_shim} not found (addon not built yet)"
            continue
        if profile_dir is not None:
            extra += [
                "-s",
                str(SUPPORT / "profile_addon.py"),
                "--set",
                f"bench_profile_out={profile_dir / f'{target}.prof'}",
            ]
        started[target] = group.start_mitmdump(f"{label}-{target}", upstream.port, extra)
    for target, proc in started.items():
        try:
            group.wait_listening(proc)
            problem = probe(proc.port, body, lambda_answers=target == "C", delay=delay)
            if problem:
                problem += f"\n{proc.name} log:\n{proc.log_tail()}"
        except StartError as error:
            problem = str(error)
        if problem:
            env.failures[target] = problem
        else:
            env.targets[target] = proc
    return env


def _target_args(
    target: str, workdir: Path, body_file: Path, delay: float, lambda_port: int, addon_shim: Path
) -> list[str] | None:
    if target == "A":
        return []
    if target == "B":
        return [
            "-s",
            str(SUPPORT / "synth_addon.py"),
            "--set",
            f"synth_body_file={body_file}",
            "--set",
            f"synth_delay={delay}",
        ]
    if not addon_shim.exists():
        return None
    config = write_lambda_config(workdir, lambda_port)
    return ["-s", str(addon_shim), "--set", f"lambda_config={config}"]


def probe(port: int, body: bytes, *, lambda_answers: bool, delay: float) -> str | None:
    """None if the target answers the expected bytes from the expected peer, else why not.

    Lambda's answer carries ``x-amzn-RequestId`` (forwarded by the addon, as Kong does);
    A's and B's answers must not, or the benchmark would not measure what it says.
    """
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10 + delay)
    try:
        connection.request("GET", PROBE_PATH, headers={"Accept": "application/json"})
        response = connection.getresponse()
        received = response.read()
        from_lambda = response.getheader("x-amzn-RequestId") is not None
    except (OSError, http.client.HTTPException) as error:
        return f"probe request failed: {type(error).__name__}: {error}"
    finally:
        connection.close()
    if response.status != 200:
        return f"probe: HTTP {response.status}: {received[:300]!r}"
    if received != body:
        return f"probe: unexpected body ({len(received)} bytes): {received[:200]!r}"
    if from_lambda != lambda_answers:
        return (
            "probe: answered by the Lambda endpoint"
            if from_lambda
            else ("probe: not answered by the Lambda endpoint (no x-amzn-RequestId header)")
        )
    return None
