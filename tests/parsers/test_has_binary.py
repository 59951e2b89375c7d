"""``fast.has_binary`` (the C pre-check before junk marks) agrees with ``records.is_binary``."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from armorwatch.parsers import fast
from armorwatch.parsers import records as R

pytestmark = pytest.mark.skipif(not fast.available(), reason="C scanner not built")

# bytes around the judged ones, so short inputs hit each border often
NEAR = st.sampled_from([0, 8, 9, 10, 11, 12, 13, 14, 0x1A, 0x1B, 0x1C, 0x1D, 0x1E, 0x1F, 0x20,
                        0x41, 0x7F, 0x80, 0xFF])  # fmt: skip


@settings(max_examples=600, deadline=None)
@given(st.lists(st.one_of(NEAR, st.integers(0, 255)), max_size=80), st.integers(0, 40))
def test_agrees_with_is_binary_at_any_length_and_position(body: list[int], pad: int) -> None:
    """Any bytes, behind any run of text (so a control byte lands in any SIMD lane or tail)."""
    buf = b"a" * pad + bytes(body)
    assert R.is_binary(buf) == fast.has_binary(buf)


def test_audit_text_is_not_binary_and_one_control_byte_is() -> None:
    """A long audit.log text with tabs, CR, ESC and GS is text; one 0x01 anywhere is not."""
    text = (b'type=AVC msg=audit(1.1:1): apparmor="DENIED"\t\r\x1b\x1d name="/x"\n') * 50
    assert not fast.has_binary(text)
    for at in (0, 15, 16, 17, len(text) - 1):
        assert fast.has_binary(text[:at] + b"\x01" + text[at:])
