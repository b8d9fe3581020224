"""The failures of an ``HttpClient`` call: every one is an ``HttpError`` subclass (the
caller maps them to its own errors; ``aws_errors`` for the Lambda calls)."""

from __future__ import annotations


class HttpError(Exception):
    """The HTTP exchange failed."""


class ConnectError(HttpError):
    """No TCP connection to the origin (refused, unreachable, DNS failure)."""

    def __init__(self, os_error: OSError) -> None:
        super().__init__(str(os_error))
        self.os_error = os_error


class ProxyConnectError(ConnectError):
    """No connection to the proxy, or it hung up before answering ``CONNECT``."""


class ProxyRefusedError(HttpError):
    """The proxy answered ``CONNECT`` with a status other than 2xx."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


class TlsError(HttpError):
    """The TLS handshake failed."""

    def __init__(self, os_error: OSError) -> None:
        super().__init__(str(os_error))
        self.os_error = os_error


class CertificateError(TlsError):
    """The server's certificate did not verify (or did not match the host)."""


class ServerDisconnectedError(HttpError):
    """The server closed the connection before the response head was complete."""

    def __init__(self, message: str, *, nothing_received: bool = False) -> None:
        super().__init__(message)
        #: not a byte of a response came back (a keep-alive connection closed as it was
        #: reused: the request can go again on a new connection)
        self.nothing_received = nothing_received


class IncompleteBodyError(HttpError):
    """The server closed the connection in the middle of the response body."""


class ClientClosedError(HttpError):
    """``HttpClient.close`` closed the connection while the call waited for its response."""


class MalformedResponseError(HttpError):
    """The response is not valid HTTP/1.1."""


class ResponseTooLargeError(HttpError):
    """The response body is larger than the client's ``max_body`` (the call is aborted)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the response body is larger than {limit} bytes")
        self.limit = limit
