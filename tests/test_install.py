"""A non-editable install into a fresh virtual environment, used from another directory.

The venv sees the dev venv's site-packages (mitmproxy, botocore...) through a ``.pth`` file
so that only the project itself is built and installed (``--no-deps``; the build backend
comes from pip's cache, ~20 s);
its own site-packages comes first, so ``lambdaroute`` is the installed copy, not the
source tree.
"""

from __future__ import annotations

import shutil
import site
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.local_lambda_fixtures import start_local_lambda
from tests.mitmdump_process import ROOT, free_port
from tests.test_cli import start, stop, wait_listening

MITMDUMP = "from mitmproxy.tools.main import mitmdump; mitmdump()"
pytestmark = [pytest.mark.e2e, pytest.mark.install]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("install")
    source = work / "src"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(".git", ".venv*", "__pycache__", "*.egg-info", "build"),
    )
    venv = work / "venv"
    subprocess.run([sys._base_executable, "-m", "venv", str(venv)], check=True)  # type: ignore[attr-defined]
    purelib = next(venv.glob("lib/python*/site-packages"))
    (purelib / "dev-venv.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            str(source),
        ],
        check=True,
        cwd=work,
    )
    shutil.rmtree(source)  # nothing may come from the source tree
    return venv


def run_in(venv: Path, *args: str, cwd: Path) -> str:
    return subprocess.run(
        [str(venv / "bin" / args[0]), *args[1:]],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout


def test_the_package_is_the_installed_copy(installed: Path, tmp_path: Path) -> None:
    where = run_in(
        installed, "python", "-c", "import lambdaroute; print(lambdaroute.__file__)", cwd=tmp_path
    )
    assert where.startswith(str(installed))
    addon = Path(
        run_in(installed, "python", "-m", "lambdaroute", "--addon-path", cwd=tmp_path).strip()
    )
    assert addon.is_file() and str(addon).startswith(str(installed))
    assert "--functions" in run_in(installed, "local-lambda", "--help", cwd=tmp_path)
    assert "--functions" in run_in(
        installed, "python", "-m", "local_lambda", "--help", cwd=tmp_path
    )


@pytest.mark.parametrize(
    "how",
    ["lambda-route", "python -m lambdaroute", "lambda-route --mitmdump", "mitmdump -s"],
)
def test_installed_commands_route_to_lambda(installed: Path, how: str, tmp_path: Path) -> None:
    with start_local_lambda() as server:
        config = tmp_path / "example.yaml"
        text = (ROOT / "configs" / "example.yaml").read_text()
        config.write_text(text.replace("port: 9001", f"port: {server.port}"))
        bin_dir = installed / "bin"
        if how == "mitmdump -s":
            addon = run_in(installed, "python", "-m", "lambdaroute", "--addon-path", cwd=tmp_path)
            # the venv's python with the dev venv's mitmproxy (no mitmdump script of its own)
            command = [str(bin_dir / "python"), "-c", MITMDUMP, "-s", addon.strip()]
            command += ["--set", "lambda_config=example.yaml"]
        else:
            program, *flags = how.split()
            command = [str(bin_dir / program), *flags, "example.yaml"]
        port = free_port()
        command += [
            "--listen-host",
            "127.0.0.1",
            "-p",
            str(port),
            "--mode",
            "reverse:http://127.0.0.1:9",
        ]
        log = tmp_path / "proxy.log"
        process = start(command, log, cwd=tmp_path)
        try:
            wait_listening(port, process, log)
            response = httpx.get(f"http://127.0.0.1:{port}/hello/installed", timeout=30)
            assert response.status_code == 200, log.read_text()
            assert response.json()["path"] == "/hello/installed"
        finally:
            stop(process)
