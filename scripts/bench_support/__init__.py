"""Pieces of ``scripts/bench.py``: the loopback peers, the load generator, process control,
the trivial addon (B) and the stage micro-benchmark."""
