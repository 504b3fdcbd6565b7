"""The shipped list of known ophthalmic imaging datasets is a valid ``-a urls`` file, and each
entry routes where its annotation says (the offline half of the recall check)."""

from __future__ import annotations

from pathlib import Path

from envision_spiders.ingest.route import read_inputs, route

KNOWN = Path(__file__).resolve().parent.parent / "fixtures" / "ingest" / "known_ophthalmic_datasets.txt"


def annotated() -> list[tuple[str, str]]:
    entries = []
    for line in KNOWN.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            text, _, note = line.partition("  # ")
            entries.append((text.strip(), note.rsplit("|", 1)[1].strip()))
    return entries


def test_every_known_dataset_routes_where_its_annotation_says():
    entries = annotated()
    assert [text for text, _ in entries] == read_inputs(KNOWN) and len(entries) >= 10
    for text, expected in entries:
        target = route(text)
        assert (target.source if target.kind == "record" else target.kind) == expected, text
