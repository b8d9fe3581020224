"""Kong's URI normalization and escaping (``kong/tools/uri.lua``), and the upstream URI of
a matched route (``get_upstream_uri_v0`` of ``kong/router/utils.lua``).

The router matches on the normalized path, and Kong percent-encodes the upstream URI
again before it is used. Paths are handled as ``str`` whose non-ASCII content stands for
bytes (UTF-8 with ``surrogateescape``), so a percent-decoded byte that is not valid UTF-8
survives the round trip unchanged.
"""

from __future__ import annotations

import re

#: RFC 3986 reserved characters (and ``%``): their escapes are kept, upper-cased
_RESERVED = frozenset(b"!*'();:@&=+$,/?%#[]")
_PERCENT_RUN = re.compile(r"(?:%[0-9A-Fa-f]{2})+")
#: characters Kong's ``escape`` leaves alone (``[^!#$&'()*+,/:;=?@[\]A-Z\d-_.~%]``, case-less)
_ESCAPE_NEEDED = re.compile(r"[^!#$&'()*+,/:;=?@\[\]A-Za-z0-9\-_.~%]")


def _decode_run(match: re.Match[str]) -> str:
    """Decode a run of ``%XX`` triplets (together, so multi-byte UTF-8 stays one char)."""
    run = match.group(0)
    out: list[str] = []
    pending = bytearray()
    for i in range(0, len(run), 3):
        byte = int(run[i + 1 : i + 3], 16)
        if byte in _RESERVED:
            out.append(pending.decode("utf-8", "surrogateescape"))
            pending.clear()
            out.append(run[i : i + 3].upper())
        else:
            pending.append(byte)
    out.append(pending.decode("utf-8", "surrogateescape"))
    return "".join(out)


def normalize(path: str, merge_slashes: bool = True) -> str:
    """Kong's ``normalize(uri, merge_slashes)``: decode non-reserved escapes, drop dot
    segments (``/%2e./`` counts as ``/../``) and, by default, merge repeated slashes."""
    if path in ("", "/"):
        return path
    if "%" in path:
        path = _PERCENT_RUN.sub(_decode_run, path)
    if "." not in path and (not merge_slashes or "//" not in path):
        return path
    # A near transcription of Kong's loop, so that edge cases come out the same.
    output: list[str] = []
    uri = path
    while uri:
        if uri == "/.":
            uri = "/"
        elif uri == "/..":
            uri = "/"
            if output:
                output.pop()
        elif uri in (".", ".."):
            uri = ""
        elif uri.startswith("../"):
            uri = uri[3:]
        elif uri.startswith("./") or uri.startswith("/./"):
            uri = uri[2:]
        elif uri.startswith("/../"):
            uri = uri[3:]
            if output:
                output.pop()
        elif merge_slashes and uri.startswith("//"):
            uri = uri[1:]
        else:
            slash = uri.find("/", 1)
            if slash == -1:
                output.append(uri)
                uri = ""
            else:
                output.append(uri[:slash])
                uri = uri[slash:]
    return "".join(output)


def _escape_char(match: re.Match[str]) -> str:
    return "".join(f"%{b:02X}" for b in match.group(0).encode("utf-8", "surrogateescape"))


def escape(path: str) -> str:
    """Kong's ``escape``: percent-encode what is not safe in an HTTP request line."""
    if _ESCAPE_NEEDED.search(path) is None:
        return path
    return _ESCAPE_NEEDED.sub(_escape_char, path)


def sanitize_postfix(postfix: str) -> str:
    if postfix in (".", ".."):
        return ""
    if postfix.startswith("./"):
        return postfix[2:]
    if postfix.startswith("../"):
        return postfix[3:]
    return postfix


def upstream_uri_v0(strip_path: bool, postfix: str, req_uri: str, base: str) -> str:
    """Kong's ``get_upstream_uri_v0`` (path_handling v0), unescaped."""
    if base.endswith("/"):
        if strip_path:
            if postfix == "":
                if base == "/":
                    return "/"
                if req_uri.endswith("/"):
                    return base
                return base[:-1]
            if postfix.startswith("/"):
                return base[:-1] + postfix
            return base + postfix
        return base + req_uri[1:]
    if strip_path:
        if postfix == "":
            if len(req_uri) > 1 and req_uri.endswith("/"):
                return base + "/"
            return base
        if postfix.startswith("/"):
            return base + postfix
        return base + "/" + postfix
    if req_uri == "/":
        return base
    return base + req_uri
