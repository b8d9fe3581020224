"""The process environment of a worker: what Lambda sets for a function's runtime."""

from __future__ import annotations

import os
from pathlib import Path

import local_lambda
from local_lambda.functions import FunctionSpec
from local_lambda.runtimes import module_for

_ADDON_DIR = str(Path(local_lambda.__file__).resolve().parent.parent)


def worker_environment(
    spec: FunctionSpec, region: str, credentials: tuple[str, str] = ("test", "test")
) -> dict[str, str]:
    """The process environment: the server's, Lambda's variables, then the function's.

    Credentials: the caller's ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` (and session
    token) when it has them, else the server's ``--access-key``/``--secret-key``.
    """
    environment = dict(os.environ)
    if "AWS_ACCESS_KEY_ID" not in environment or "AWS_SECRET_ACCESS_KEY" not in environment:
        environment["AWS_ACCESS_KEY_ID"], environment["AWS_SECRET_ACCESS_KEY"] = credentials
        environment.pop("AWS_SESSION_TOKEN", None)
    python_path = environment.get("PYTHONPATH")
    runtime = module_for(spec.runtime)
    execution_env = runtime.execution_env(spec)
    environment.pop("AWS_EXECUTION_ENV", None)
    environment.update(
        {
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "LAMBDA_TASK_ROOT": str(spec.code_dir),
            "LAMBDA_RUNTIME_DIR": str(Path(runtime.__file__ or _ADDON_DIR).resolve().parent),
            "TZ": ":UTC",
            "_HANDLER": spec.handler,
            "PYTHONPATH": _ADDON_DIR + (os.pathsep + python_path if python_path else ""),
            **({"AWS_EXECUTION_ENV": execution_env} if execution_env else {}),
        }
    )
    environment.update(spec.environment)
    return environment
