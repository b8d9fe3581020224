"""Entry point for ``mitmdump -s addon/lambda_route.py --set lambda_config=FILE``.

A thin shim: mitmproxy runs ``-s`` files as anonymous modules (dataclasses defined in
them break, mitmproxy issue #8279), so the code lives in the ``lambdaroute`` package.
mitmproxy puts this file's folder on sys.path while loading it, so the package imports
whether or not the project is pip-installed.
"""

from lambdaroute.addon import LambdaRoute

addons = [LambdaRoute()]
