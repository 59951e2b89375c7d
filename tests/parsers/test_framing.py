"""parsers.framing: the one line framing of the parser and the file tailer."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from armorwatch.parsers.framing import LineBuffer, line_pieces

# the bytes that decide how lines are cut and joined
_PIECES = st.lists(
    st.sampled_from([b"a", b"msg='", b"'", b"\n", b" ", b"\t", b"\r", b"x=1", b"\n ", b"\n\t"]),
    max_size=14,
).map(b"".join)


class TestLineBuffer:
    def test_take_holds_the_partial_line_with_its_offset(self) -> None:
        """Complete lines go out with their offset; the partial rest waits for its newline."""
        lb = LineBuffer()
        assert (b"a\n", 10) == lb.take(b"a\nbc", 10)
        assert (b"bc", 12, 14) == (lb.held, lb.at, lb.end)
        assert (b"bcd\n", 12) == lb.take(b"d\ne", 14)
        assert (b"e", 16) == (lb.held, lb.at)

    def test_take_head_splits_without_copying_the_chunk(self) -> None:
        """The held bytes + the chunk's first line come out as a head; the rest is indexed."""
        lb = LineBuffer(b"xy", 5)
        assert (b"xyz\n", 5, 2, 4) == lb.take_head(b"z\nw\nv", 7)
        assert (b"v", 11) == (lb.held, lb.at)

    def test_stale_drops_what_the_next_offset_does_not_continue(self) -> None:
        """A held fragment is given up (once) when the stream jumps elsewhere."""
        lb = LineBuffer(b"frag", 100)
        assert b"" == lb.stale(104)
        assert b"frag" == lb.stale(0)
        assert b"" == lb.held

    def test_overflow_bounds_a_line_without_end_then_skips_to_its_newline(self) -> None:
        """Past the limit the head is given out once and the rest of the line is skipped."""
        lb = LineBuffer(b"aaaa", 0)
        assert lb.overflow(b"aa\n", 4, limit=5) is None  # it ends in this chunk
        assert (b"aaaab", 7) == lb.overflow(b"bbb", 4, limit=5)
        assert (True, b"", 7) == (lb.skipping, lb.held, lb.at)
        assert (2, b"", 9) == lb.skip(b"cc", 7)
        assert (1, b"next\n", 11) == lb.skip(b"d\nnext\n", 9)
        assert not lb.skipping

    def test_cut_gives_pieces_of_a_held_line_at_the_limit(self) -> None:
        """The tailer's bound: a held line is cut into limit-sized pieces with offsets."""
        lb = LineBuffer(b"abcdefg", 3)
        assert [(b"abc", 3), (b"def", 6)] == list(lb.cut(3))
        assert (b"g", 9) == (lb.held, lb.at)

    def test_unread_and_take_all(self) -> None:
        """Lines given back wait in front of the held bytes; take_all empties the buffer."""
        lb = LineBuffer(b"c", 4)
        lb.unread(b"ab\n", 1)
        assert (b"ab\nc", 1) == lb.take_all()
        assert (b"", 5) == (lb.held, lb.at)

    def test_iter_lines_joins_a_user_avc_continuation_or_holds_it(self) -> None:
        """A msg='… continued on indented lines is one line; unfinished, it is held again."""
        buf = b"type=USER_AVC msg='a\n b'\nx\n"
        assert [(0, b"type=USER_AVC msg='a\n b'"), (25, b"x")] == list(
            LineBuffer().iter_lines(buf, 0, final=False)
        )
        lb = LineBuffer(b"", 20)
        assert [(0, b"x")] == list(lb.iter_lines(b"x\nmsg='a\n b\n", 0, final=False))
        assert (b"msg='a\n b\n", 2) == (lb.held, lb.at)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(buf=_PIECES, final=st.booleans())
def test_lines_is_iter_lines(buf: bytes, final: bool) -> None:
    """``lines`` (cut at C speed when nothing can continue) gives what ``iter_lines`` gives,
    and holds back the same bytes."""
    a, b = LineBuffer(), LineBuffer()
    assert list(b.iter_lines(buf, 100, final)) == a.lines(buf, 100, final)
    assert (b.held, b.at) == (a.held, a.at)


def test_line_pieces_merge_short_lines_and_cut_long_ones() -> None:
    """Runs of lines within the limit are one piece; a longer line is cut at the limit."""
    assert [(0, 5, False), (5, 8, True), (8, 11, True), (11, 13, False)] == line_pieces(
        b"ab\nc\nxxxxxxy\n", 3
    )
