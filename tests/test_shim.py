"""``addon/lambda_route.py`` works when the dependencies are installed but the project is not."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import importlib.util, sys
assert importlib.util.find_spec("lambdaroute") is None, "the project is importable"
from mitmproxy.addons.script import load_script
namespace = load_script(sys.argv[1])
assert namespace is not None, "the script did not load"
(addon,) = namespace.addons
print(type(addon).__module__, type(addon).__name__)
"""


def test_script_loads_without_the_project_installed(tmp_path: Path) -> None:
    # -S: site-packages' .pth files (our editable install among them) are not processed,
    # so only the dependencies on PYTHONPATH are importable, not the project.
    completed = subprocess.run(
        [sys.executable, "-S", "-c", PROBE, str(ROOT / "addon" / "lambda_route.py")],
        env={"PYTHONPATH": sysconfig.get_paths()["purelib"], "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "lambdaroute.addon LambdaRoute"
