"""The config watcher loads a changed file only once it has stopped changing."""

from __future__ import annotations

from pathlib import Path

from lambdaroute.config_watch import SettleTracker, file_state


def test_a_state_is_settled_only_when_two_polls_agree(tmp_path: Path) -> None:
    path = tmp_path / "kong.yaml"
    path.write_text("routes: [")
    tracker = SettleTracker()
    first = file_state(str(path))
    assert first is not None
    assert not tracker.settled(first)
    path.write_text("routes: []\n")  # still being written: the next poll sees a new state
    second = file_state(str(path))
    assert second is not None and second != first
    assert not tracker.settled(second)
    assert tracker.settled(second)  # unchanged over one poll: may be loaded


def test_same_size_rewrite_is_a_change(tmp_path: Path) -> None:
    path = tmp_path / "kong.yaml"
    path.write_text("aaaa")
    before = file_state(str(path))
    path.write_text("bbbb")
    after = file_state(str(path))
    assert before is not None and after is not None
    assert before.size == after.size and before.sha256 != after.sha256


def test_missing_file_has_no_state(tmp_path: Path) -> None:
    assert file_state(str(tmp_path / "absent.yaml")) is None
