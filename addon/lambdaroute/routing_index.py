"""Candidates indexed by the text their paths must start with, so that ``Router.match``
scans only the few candidate lists that can match a path."""

from __future__ import annotations

from collections.abc import Sequence

from .routing_candidates import Candidate

_REGEX_META = frozenset("\\.^$*+?()[]{}|")
_QUANTIFIERS = frozenset("*+?{")
#: below this many candidates a plain scan is as fast as an index lookup
_INDEX_MIN = 8


def _literal_prefix(regex: str) -> str:
    """Text every match of ``^regex`` starts with ("" when that cannot be told simply)."""
    if "|" in regex:
        return ""
    literal = []
    for i, char in enumerate(regex):
        if char in _REGEX_META or (i + 1 < len(regex) and regex[i + 1] in _QUANTIFIERS):
            break
        literal.append(char)
    return "".join(literal)


def _required_starts(c: Candidate) -> tuple[str, ...] | None:
    """Texts one of which a path must start with to match ``c`` (None: any path may)."""
    if c.prefixes:
        return c.prefixes
    if c.regexes:
        starts = tuple(_literal_prefix(configured[1:]) for configured, _ in c.regexes)
        return None if "" in starts else starts
    return None


class PathIndex:
    """Candidates (in priority order) indexed by the text their paths must start with.

    ``lists(path)`` gives the candidate lists that can match ``path``: those whose
    required start (a prefix, or the literal start of a regex) begins the path, and those
    that may match any path. Each list is in priority order.
    """

    __slots__ = ("_by_start", "_everywhere", "_lengths")

    def __init__(self, candidates: Sequence[Candidate]) -> None:
        by_start: dict[str, list[Candidate]] = {}
        everywhere: list[Candidate] = []
        for c in candidates:
            starts = _required_starts(c) if len(candidates) >= _INDEX_MIN else None
            if starts is None:
                everywhere.append(c)
            else:
                for start in dict.fromkeys(starts):
                    by_start.setdefault(start, []).append(c)
        self._everywhere = tuple(everywhere)
        self._by_start = {start: tuple(bucket) for start, bucket in by_start.items()}
        self._lengths = tuple(sorted({len(start) for start in by_start}))

    def lists(self, path: str) -> list[tuple[Candidate, ...]]:
        found = [self._everywhere] if self._everywhere else []
        size = len(path)
        for length in self._lengths:
            if length > size:
                break
            bucket = self._by_start.get(path[:length])
            if bucket is not None:
                found.append(bucket)
        return found
