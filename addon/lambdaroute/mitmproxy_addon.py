"""The file ``mitmdump -s`` loads from an installed lambda-route (``lambda-route --addon-path``).

mitmproxy runs ``-s`` files as anonymous modules named ``__mitmproxy_script__.NAME``, so a
module of the package with relative imports (``lambdaroute/addon.py``) cannot be loaded that
way. This file imports the package absolutely instead. mitmproxy also leaves the script's
folder on ``sys.path``; that folder is this package, whose module names (``config``,
``events``, ``errors``...) must not shadow other top-level modules, so it is taken off again.
"""

import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
while _here in sys.path:
    sys.path.remove(_here)

try:
    from lambdaroute.addon import LambdaRoute
except ImportError:  # loaded from a source tree that is not installed
    sys.path.append(os.path.dirname(_here))
    from lambdaroute.addon import LambdaRoute

addons = [LambdaRoute()]
