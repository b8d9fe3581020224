"""The ``lambda.routes`` command's answer: one line per route, what it matches and the
function it calls, in the router's file order."""

from __future__ import annotations

from .config import LambdaRouteConfig, Route
from .flowrecord import payload_mode


def describe_routes(config: LambdaRouteConfig) -> list[str]:
    routed = sum(1 for route in config.routes if route.lambda_plugin is not None)
    lines = [f"{config.source}: {routed} of {len(config.routes)} routes go to Lambda"]
    lines.extend(describe_route(route) for route in config.routes)
    return lines


def describe_route(route: Route) -> str:
    name = route.name or route.id or f"route #{route.order + 1}"
    matches = [
        f"{label} {', '.join(values)}"
        for label, values in (
            ("methods", route.methods),
            ("hosts", route.hosts),
            ("paths", route.paths),
            ("snis", route.snis),
        )
        if values
    ]
    matches.extend(f"header {h.name}: {', '.join(h.values)}" for h in route.headers)
    if tuple(route.protocols) != ("http", "https"):
        matches.append(f"protocols {', '.join(route.protocols)}")
    what = "; ".join(matches) or "every request"
    plugin = route.lambda_plugin
    if plugin is None:
        return f"{name}: {what} -> no aws-lambda plugin (passed through)"
    function = plugin.function_name or "?"
    if plugin.qualifier:
        function += f":{plugin.qualifier}"
    where = f"{plugin.host}:{plugin.port}" if plugin.host else plugin.aws_region or "AWS_REGION"
    extras = [payload_mode(plugin), plugin.invocation_type]
    if plugin.invoke_mode == "RESPONSE_STREAM":
        extras.append("response stream")
    if plugin.is_proxy_integration:
        extras.append("proxy integration")
    return f"{name}: {what} -> Lambda {function} @ {where} ({', '.join(extras)})"
