"""Response streaming (``InvokeWithResponseStream``) for ``invoke_mode: RESPONSE_STREAM``.

httpstream   one POST whose response body is read as it arrives (bounded memory)
eventstream  event-stream frames -> botocore's EventStreamMessage, one message at a time
invoke       the signed call; ResponseStream yields payload chunks, then its outcome
prelude      the HttpResponseStream prelude (status, headers, cookies) of a stream
"""
