"""PeakMemory: a worker's peak memory for the REPORT line, read through a kept descriptor."""

from __future__ import annotations

import subprocess
import sys

from local_lambda.process import PeakMemory

_HOLD_64_MIB = (
    "import sys; x = bytearray(64 << 20); sys.stdout.write('ok\\n'); sys.stdout.flush(); "
    "sys.stdin.read()"
)


def test_reads_the_peak_of_a_live_process_and_keeps_it_once_the_process_is_gone() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLD_64_MIB], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    memory = PeakMemory(child.pid)
    try:
        assert child.stdout is not None and child.stdout.readline() == b"ok\n"
        live = memory.read()
        assert 64 <= live < 1024
    finally:
        child.communicate(b"")
    assert memory.read() == live  # reaped: /proc has nothing left, the last reading stays
    memory.close()
    assert memory.read() == live


def test_a_process_that_does_not_exist_reads_as_zero() -> None:
    holder = subprocess.Popen([sys.executable, "-c", "pass"])
    holder.wait()
    assert PeakMemory(holder.pid).read() == 0
