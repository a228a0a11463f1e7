"""Output split into log lines, each cut at a bound and marked so."""

from __future__ import annotations

from supervisor.worker.capture import MAX_RECORD, Lines, cut_message


def test_lines_wait_for_their_newline():
    lines = Lines(limit=10)
    assert lines.feed(b"ab") == []
    assert lines.feed(b"c\nde\nf") == [b"abc", b"de"]
    assert lines.end() == [b"f"]
    assert lines.end() == []


def test_a_long_line_is_cut_once_and_the_rest_dropped_up_to_its_newline():
    lines = Lines(limit=4)
    cut = lines.cut
    assert cut == b" [line cut at 4 bytes; the rest of it is not logged]"
    assert lines.feed(b"abcdefgh") == [b"abcd" + cut]
    assert lines.feed(b"ijkl" * 1000) == []  # memory stays bounded while the line goes on
    assert lines.pending == b""
    assert lines.feed(b"mn\nok\n") == [b"ok"]


def test_a_long_line_that_ends_in_the_same_chunk_is_cut():
    lines = Lines(limit=4)
    assert lines.feed(b"abcdefgh\nxy\n") == [b"abcd" + lines.cut, b"xy"]


def test_a_message_is_cut_with_the_count_of_what_is_not_logged():
    assert cut_message("short") == "short"
    message = cut_message("x" * (MAX_RECORD + 5))
    assert message.startswith("x" * MAX_RECORD + " [message cut at")
    assert message.endswith("; 5 more are not logged]")
