"""Installing the serverless-offline peer of the ``offline`` scenario with npm."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

PACKAGES = ("serverless@3", "serverless-offline@13")


def install(sls_dir: Path) -> str | None:
    """npm-install the peer into sls_dir (kept if already there); None or why not."""
    if shutil.which("npm") is None:
        return "npm is not installed: the serverless-offline comparison is skipped"
    if (sls_dir / "node_modules" / ".bin" / "sls").exists():
        return None
    sls_dir.mkdir(parents=True, exist_ok=True)
    (sls_dir / "package.json").write_text('{"name": "bench-sls", "private": true}\n')
    done = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error", *PACKAGES],
        cwd=sls_dir,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode != 0:
        return f"npm install {' '.join(PACKAGES)} failed: {done.stderr[-800:]}"
    return None


def installed_versions(sls_dir: Path) -> dict[str, str]:
    found = {}
    for package in ("serverless", "serverless-offline"):
        manifest = sls_dir / "node_modules" / package / "package.json"
        if manifest.exists():
            found[package] = json.loads(manifest.read_text())["version"]
    return found
