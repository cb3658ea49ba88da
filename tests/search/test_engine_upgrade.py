"""An index written by an earlier version of the Tantivy engine (another schema) is re-indexed
from the documents it stores when the engine opens it, instead of failing or coming up empty."""

from __future__ import annotations

from pathlib import Path

import tantivy

from services.search.engine import EngineQuery, Filters
from services.search.tantivy_engine import SCHEMA_VERSION, TantivyEngine
from services.search.text import words
from tests.search.test_engine_contract import DOCS


def old_index(data_dir: Path) -> None:
    """The layout of version 1: `CURRENT` names generation 1, no `SCHEMA` marker, and a
    schema without the fields this version adds (only the stored document, here)."""
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw", fast=True)
    builder.add_bytes_field("doc", stored=True)
    path = data_dir / "index-1"
    path.mkdir(parents=True)
    index = tantivy.Index(builder.build(), path=str(path))
    writer = index.writer(heap_size=15_000_000)
    for doc in DOCS:
        old = tantivy.Document()
        old.add_text("id", doc.id)
        old.add_bytes("doc", doc.to_json().encode())
        writer.add_document(old)
    writer.commit()
    writer.wait_merging_threads()
    (data_dir / "CURRENT").write_text("1")


def test_an_index_of_an_earlier_schema_is_reindexed_on_open(tmp_path: Path) -> None:
    old_index(tmp_path)
    engine = TantivyEngine(tmp_path)
    try:
        assert engine.count() == len(DOCS)
        assert (tmp_path / "CURRENT").read_text() == "2"
        assert (tmp_path / "SCHEMA").read_text() == SCHEMA_VERSION
        assert sorted(p.name for p in tmp_path.glob("index-*")) == ["index-2"]
        query = EngineQuery(words=tuple(words("strangerthings")), filters=Filters(region="US"))
        assert [d.id for d, _ in engine.search(query).hits][0] == "st"
    finally:
        engine.close()
    again = TantivyEngine(tmp_path)  # now current: opened as is
    try:
        assert again.count() == len(DOCS) and (tmp_path / "CURRENT").read_text() == "2"
    finally:
        again.close()
