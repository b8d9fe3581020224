"""The one-line flow log of ``lambda-route --lean``."""

from __future__ import annotations

import io

from mitmproxy.addons import dumper
from mitmproxy.test import taddons, tflow

from lambdaroute.flowlog import FlowLog


def test_one_line_per_flow_naming_the_function() -> None:
    out = io.StringIO()
    log = FlowLog(out)
    with taddons.context(log, dumper.Dumper(io.StringIO())):
        routed = tflow.tflow(resp=True)
        routed.metadata["lambda_route"] = {"function": "echo"}
        log.response(routed)
        log.response(tflow.tflow(resp=True))
        failed = tflow.tflow(err=True)
        log.error(failed)
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    assert lines[0].endswith(" lambda:echo") and "GET http://address:22/path -> 200 " in lines[0]
    assert "lambda:" not in lines[1]
    assert "-> error: error" in lines[2]


def test_quiet_turns_it_off() -> None:
    out = io.StringIO()
    log = FlowLog(out)
    with taddons.context(log, dumper.Dumper(io.StringIO())) as tctx:
        tctx.configure(log, flow_detail=0)
        log.response(tflow.tflow(resp=True))
    assert out.getvalue() == ""


def test_the_url_is_shown_as_mitmdump_shows_it() -> None:
    """The request URL, or with ``showhost`` the one the Host header names (as Dumper)."""
    for showhost, expected in (
        (False, "GET http://address:22/path"),
        (True, "GET http://example.com/path"),
    ):
        out = io.StringIO()
        log = FlowLog(out)
        with taddons.context(log, dumper.Dumper(io.StringIO())) as tctx:
            tctx.configure(log, showhost=showhost)
            flow = tflow.tflow(resp=True)
            flow.request.headers["host"] = "example.com"
            log.response(flow)
        assert expected in out.getvalue()


def test_superseded_by_the_dumper_it_stays_off() -> None:
    out = io.StringIO()
    log = FlowLog(out)
    with taddons.context(log, dumper.Dumper(io.StringIO())) as tctx:
        log.supersede()
        tctx.configure(log, flow_detail=1)
        log.response(tflow.tflow(resp=True))
    assert out.getvalue() == ""
