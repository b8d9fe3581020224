"""A local AWS Lambda server: the Invoke API on the wire, Python handlers in worker processes.

    server     the aiohttp app (Invoke API, invocation types, logs, AWS error responses)
    streaming  InvokeWithResponseStream: PayloadChunk frames as written, then InvokeComplete
    eventstream  the event-stream frame encoder
    sigv4      SigV4 verification with AWS's 403 errors
    functions  the declared functions, and name/ARN/qualifier resolution
    functions_file  reading and validating the functions YAML file
    workers    pooled worker processes, concurrency limits, timeouts, reload
    environment  a worker's process environment (Lambda's variables, credentials)
    invocation   one call, its outcome and its Lambda-style log (START ... REPORT, Tail)
    pipe_worker  the short form's Python worker (frames over pipes)
    api_worker   a worker of any runtime, driven through the Runtime API
    code_stamp   what tells that a function's code changed, by walking its directory
    code_watch   the same from inotify: one read per invocation instead of a walk
    runtime_api  the Runtime API served to Node.js/custom-runtime workers (runtime_http: a
               small HTTP/1.1 server that keeps the trailers of streamed responses;
               response_stream: bounded hand-over)
    runtime    what runs inside a worker (frames, log capture, the invoke loop; runtime_context:
               the context object; runtime_errors: AWS's error objects); stdlib only
    console    the echo of invocation logs on stdout, from a thread
    cli        the ``local-lambda`` command (``scripts/local_lambda.py``)

Kept import-free: workers run ``python -m local_lambda.runtime`` and must start fast.
"""
