"""The daemon's bookkeeping of what to look at when: debounced folders and folders it can't read."""

from __future__ import annotations

from alttext.watch.schedule import DirtyFolders, UnreadableFolders, outermost


def test_a_burst_of_events_is_one_scan_after_the_pause_or_at_the_latest_after_max_delay() -> None:
    dirty = DirtyFolders(debounce=0.3, max_delay=1.5)
    dirty.mark("/p/a", 10.0)
    dirty.mark("/p/a", 10.2)
    assert dirty.due_times() == [10.5]
    assert dirty.take_ready(10.4) == []
    assert dirty.take_ready(10.5) == ["/p/a"]
    assert dirty.take_ready(20.0) == []  # taken once
    for tick in range(20):  # events that never pause
        dirty.mark("/p/b", 30.0 + tick * 0.1)
    assert dirty.take_ready(31.4) == []
    assert dirty.take_ready(31.5) == ["/p/b"]


def test_only_the_outermost_trees_are_scanned() -> None:
    assert outermost(["/p/a/b", "/p/a", "/p/ab", "/q"]) == ["/p/a", "/p/ab", "/q"]


def test_unreadable_folders_back_off_and_are_forgotten_when_a_covering_scan_reads_them() -> None:
    unreadable = UnreadableFolders(first_retry=30, longest_retry=100)
    assert unreadable.note(["/p/locked"], None, now=0) == []
    assert unreadable.due(29) == [] and unreadable.due(30) == ["/p/locked"]
    unreadable.note(["/p/locked"], [("/p/locked", True)], now=30)  # still unreadable: wait twice as long
    assert unreadable.due_times() == [90]
    unreadable.note(["/p/locked"], [("/p/locked", True)], now=90)
    assert unreadable.due_times() == [190]  # capped at 100 s
    assert unreadable.note([], [("/p/other", False)], now=200) == []  # a scan elsewhere says nothing
    assert unreadable.note([], [("/p", True)], now=200) == ["/p/locked"]
    assert "/p/locked" not in unreadable
