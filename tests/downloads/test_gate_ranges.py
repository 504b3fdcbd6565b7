from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest

from envision_spiders.downloads.chunks import (
    Progress,
    compress,
    expand,
    load_progress,
    plan_chunks,
    save_progress,
    strong_validator,
)
from envision_spiders.downloads.gate import (
    NEEDS_REVIEW,
    Checksum,
    MultiHasher,
    file_gate,
    parse_checksum,
    record_gate,
    verify,
)
from envision_spiders.downloads.manifest import record_status
from envision_spiders.items import DatasetRecord


def record(**kw: object) -> DatasetRecord:
    base = {"source": "zenodo", "source_id": "1", "label": "EYE_IMAGING", "confidence": 0.9, "access_type": "open",
            "eye_evidence": ["words"]}
    return DatasetRecord(**{**base, **kw})


def test_record_gate() -> None:
    assert record_gate(record(), 0.8) is None
    assert record_gate(record(access_type=None), 0.8) is None
    assert record_gate(record(confidence=0.8), 0.8) is None
    assert "below" in record_gate(record(confidence=0.79), 0.8)
    assert "NEGATIVE" in record_gate(record(label="NEGATIVE", confidence=0.99), 0.8)
    assert "missing" in record_gate(record(label=None, confidence=None), 0.8)
    assert "restricted" in record_gate(record(access_type="restricted"), 0.8)
    assert "duplicate" in record_gate(record(duplicate_of="figshare:2"), 0.8)
    assert record_gate({"source": "x", "source_id": "1", "label": "EYE_IMAGING", "confidence": 0.95,
                        "title": "Fundus photographs"}, 0.95) is None


def test_a_confident_record_with_only_left_right_names_waits_for_review() -> None:
    sides_only = record(eye_evidence=["sides"])
    assert record_gate(sides_only, 0.8).startswith(f"{NEEDS_REVIEW}: confident, but its only eye evidence is left/right")
    assert record_gate(sides_only, 0.8, eye_evidence_required=False) is None
    assert record_gate(record(eye_evidence=["eye_pair", "sides"]), 0.8) is None
    assert record_gate(record(eye_evidence=[]), 0.8).startswith(f"{NEEDS_REVIEW}: confident, but no eye evidence")
    # the other reasons come first: a review is for confident, open, canonical records only
    assert "below" in record_gate(record(eye_evidence=[], confidence=0.5), 0.8)


def test_a_record_a_curator_accepted_passes_without_eye_evidence_but_not_below_the_threshold() -> None:
    accepted = {("zenodo", "1")}
    assert record_gate(record(eye_evidence=["sides"]), 0.8, accepted=accepted) is None
    assert record_gate(record(eye_evidence=[]), 0.8, accepted=accepted) is None
    assert record_gate(record(source_id="2", eye_evidence=["sides"]), 0.8, accepted=accepted).startswith(NEEDS_REVIEW)
    # acceptance is about the eye-evidence rule only
    assert "below" in record_gate(record(eye_evidence=["sides"], confidence=0.5), 0.8, accepted=accepted)
    assert "duplicate" in record_gate(record(eye_evidence=["sides"], duplicate_of="x:1"), 0.8, accepted=accepted)


def test_a_record_stored_before_the_evidence_field_is_read_for_its_evidence() -> None:
    """Records labelled by an older version have no ``eye_evidence``: the gate reads the record."""
    paws = {"source": "x", "source_id": "1", "label": "EYE_IMAGING", "confidence": 0.99, "title": "Raw data",
            "file_names": ["dog01_left_fore.jpg", "dog01_right_fore.jpg", "dog02_left_fore.jpg", "dog02_right_fore.jpg"]}
    assert record_gate(paws, 0.8).startswith(NEEDS_REVIEW)
    plates = {**paws, "file_names": ["plate1_OD600_0h.jpg", "plate1_OD600_6h.jpg"]}
    assert record_gate(plates, 0.8).startswith(NEEDS_REVIEW)
    clinic = {**paws, "file_names": ["images/0001_OD.jpg", "images/0001_OS.jpg", "images/0002_OD.jpg"]}
    assert record_gate(clinic, 0.8) is None
    assert record_gate({**paws, "description": "Colour fundus photographs of both eyes."}, 0.8) is None


def test_file_gate() -> None:
    assert file_gate({"access": "open", "url": "https://x/y"}) is None
    assert "restricted" in file_gate({"access": "restricted", "url": "https://x/y"})
    assert "link" in file_gate({"access": "link", "url": "https://x/y"})
    assert "URL" in file_gate({"access": "open", "url": "ftp://x/y"})
    assert "URL" in file_gate({"access": "open", "url": None})


def test_parse_checksum() -> None:
    assert parse_checksum("md5:ABCDEF") == Checksum("md5", "abcdef")
    assert parse_checksum("sha-256:00ff") == Checksum("sha256", "00ff")
    assert parse_checksum("md5:not-hex") is None
    assert parse_checksum("crc32c:0000") is None  # no such hashlib algorithm here
    assert parse_checksum(None) is None and parse_checksum("abcdef") is None


def test_multihasher_and_verify() -> None:
    data = b"fundus" * 1000
    repo = Checksum("md5", hashlib.md5(data).hexdigest())
    hasher = MultiHasher(repo)
    hasher.update(data[:10])
    hasher.update(data[10:])
    digests = hasher.hexdigests()
    assert digests == {"sha256": hashlib.sha256(data).hexdigest(), "md5": hashlib.md5(data).hexdigest()}
    assert verify(digests, len(data), repo, len(data)) == (True, "md5 matches the repository")
    assert verify(digests, len(data), Checksum("md5", "0" * 32), None)[0] is False
    assert verify(digests, len(data) - 1, repo, len(data))[1].startswith("size mismatch")
    assert MultiHasher(Checksum("sha256", "00")).hexdigests().keys() == {"sha256"}  # no md5 unless given
    assert verify(digests, len(data), None, len(data))[0] is True


def test_multihasher_updaters_in_parallel_threads_give_the_same_digests() -> None:
    data = b"retina" * 100_000
    hasher = MultiHasher(Checksum("md5", "00"))
    for piece in (data[:12345], data[12345:]):
        threads = [threading.Thread(target=update) for update in hasher.updaters(piece)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert hasher.size == len(data)
    assert hasher.hexdigests() == {"sha256": hashlib.sha256(data).hexdigest(), "md5": hashlib.md5(data).hexdigest()}


def test_plan_chunks() -> None:
    assert plan_chunks(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert plan_chunks(8, 4) == [(0, 4), (4, 8)]
    assert plan_chunks(0, 4) == []
    with pytest.raises(ValueError):
        plan_chunks(10, 0)


def test_compress_expand_roundtrip() -> None:
    done = {0, 1, 2, 5, 7, 8}
    assert compress(done) == [[0, 3], [5, 6], [7, 9]]
    assert expand(compress(done)) == done


def test_strong_validator() -> None:
    assert strong_validator({"ETag": '"abc"', "Last-Modified": "x"}) == {"etag": '"abc"'}
    assert strong_validator({"ETag": 'W/"abc"', "Last-Modified": "Tue"}) == {"last_modified": "Tue"}
    assert strong_validator({"ETag": b'"b"'}) == {"etag": '"b"'}
    assert strong_validator({}) == {}


def test_progress_sidecar_roundtrip(tmp_path: Path) -> None:
    part, sidecar = tmp_path / "f.part", tmp_path / "f.part.json"
    part.write_bytes(b"\0" * 10)
    progress = Progress("http://h/f", 10, 4, {"etag": '"e"'}, {0, 2})
    save_progress(sidecar, progress)
    loaded = load_progress(sidecar, part)
    assert loaded == progress and loaded.bytes_done() == 6
    part.write_bytes(b"\0" * 9)  # a .part of another size is not trusted
    assert load_progress(sidecar, part) is None
    sidecar.write_text("{broken")
    assert load_progress(sidecar, part) is None


def test_record_status() -> None:
    ok = {"name": "a", "status": "complete"}
    assert record_status([ok]) == "complete"
    bad = {"name": "b", "status": "failed: HTTP 404"}
    assert record_status([ok, bad]) == "failed: 1 of 2 files (b: HTTP 404)"
    assert record_status([ok, {"name": "c", "status": "pending"}]).startswith("failed: 1 of 2 files not finished")
