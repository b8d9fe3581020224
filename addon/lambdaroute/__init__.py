"""lambda-route: route mitmproxy flows to AWS Lambda, Kong ``aws-lambda`` compatible.

A flow passes through these stages, one module each (helpers in brackets):

    config        Kong declarative file -> typed, validated entities (config_types)
                  [config_loader -> config_services, config_routes, config_plugins,
                   config_consumers, config_auth, config_assembly, config_fields;
                   lambda_schema, validators, vault]
    routing       flow -> matching route (Kong's router rules and precedence)  [uri]
    auth          key-auth / basic-auth: the route's consumer, or Kong's 401 (the plugin
                  that applies to that consumer: routing.select_lambda_plugin)
    snapshot      flow -> IncomingRequest (a plain, mitmproxy-free view of the request)
    events        IncomingRequest -> Lambda payload (Kong's modes)  [bodies]
    apigateway    IncomingRequest -> API Gateway v1 / v2 and ALB events
    credentials   botocore's credential chain, resolved and refreshed off the event loop
    signing       SigV4 for the Invoke call
    invocation    the signed Invoke call  [invoke_target, aws_errors, endpoints,
                  transport: our keep-alive HTTP/1.1 client]
    streaming     InvokeWithResponseStream (invoke_mode: RESPONSE_STREAM), and relay: its
                  chunks relayed to the client  [function_url: Function URL events]
    responses     Invoke result -> HTTP response (Kong's rules)  [proxy_integration]
    answering     one routed flow: payload, call, shaped answer or gateway error, record
                  [flow_http, flowrecord, contentview]
    detour        routed flows whose body may be streamed go to the loopback intake
                  endpoint, never upstream  [intake]
    addon         the mitmproxy addon: options, config (re)loading, the hooks  [config_watch,
                  lean + hook_dispatch + flowlog: the lean master of the lambda-route command]

``errors`` holds the exception tree shared by all of them.
"""
