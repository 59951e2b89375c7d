"""parsers.schema: each column described once, as Arrow field metadata of a twin schema."""

from __future__ import annotations

import pyarrow as pa
import pytest

from armorwatch.parsers import schema as S

SCHEMAS = [S.MAC_SCHEMA, S.LOSS_SCHEMA, S.REJECT_SCHEMA]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_every_column_is_described(schema: pa.Schema) -> None:
    """Each column of the three schemas has a non-empty description."""
    docs = S.descriptions(schema)
    assert schema.names == list(docs)
    assert all(text.strip() for text in docs.values())


@pytest.mark.parametrize("schema", SCHEMAS)
def test_described_schema_is_the_same_schema_with_metadata(schema: pa.Schema) -> None:
    """described() changes nothing but the field metadata; the wire schema carries none."""
    described = S.described(schema)
    assert described.equals(schema, check_metadata=False)
    assert all(f.metadata and S.DESCRIPTION_KEY in f.metadata for f in described)
    assert all(f.metadata is None for f in schema)


def test_unknown_schema_is_refused() -> None:
    """A schema that is none of the three has no descriptions."""
    with pytest.raises(ValueError, match="no descriptions"):
        S.described(S.MAC_SCHEMA.remove(0))
