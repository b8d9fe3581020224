"""lambda-route: route mitmproxy flows to AWS Lambda, Kong ``aws-lambda`` compatible.

A flow passes through these stages, one module each:

    config        Kong declarative file -> typed, validated entities
    routing       flow -> matching route (Kong's router rules and precedence)
    snapshot      flow -> IncomingRequest (a plain, mitmproxy-free view of the request)
    events        IncomingRequest -> Lambda payload (Kong modes)
    apigateway    IncomingRequest -> API Gateway v1 / v2 and ALB events
    credentials   botocore's credential chain, resolved and refreshed off the event loop
    signing       SigV4 for the Invoke call
    invocation    the signed Invoke call over a pooled asyncio HTTP client
    responses     Invoke result -> HTTP response (Kong's rules, proxy integration)
    addon         the mitmproxy addon that ties the stages together
"""
