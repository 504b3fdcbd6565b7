"""Gated downloads into an S3-protocol server (moto on loopback): ``scrapy download`` with
``FILES_STORE=s3://…``, files served by the stalling file server (Range, ETag, stall on cue).
Every check reads the object store itself: its listing, its pending multipart uploads, the
objects' bytes hashed here after a GET."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from envision_spiders.state.store import record_path
from tests.pipelines.test_files import (
    blob,
    file_entry,
    kill,
    md5,
    run_download,
    start_download,
    store,
)
from tests.servers.s3 import S3Server
from tests.servers.stall_files import StallingFileServer

KB, MB = 1024, 1024 * 1024
PART = 5 * MB  # S3's smallest part but the last: the S3 path raises smaller chunk sizes to it


def s3_download_settings(s3: S3Server, bucket: str, **extra: Any) -> dict[str, Any]:
    return {
        **s3.settings(),
        "FILES_STORE": f"s3://{bucket}/dl",
        "ENVISION_DOWNLOAD_CHUNK_SIZE": 1 * MB,  # below S3's minimum: raised to 5 MiB parts
        "ENVISION_DOWNLOAD_CHUNK_THRESHOLD": 512 * KB,
        **extra,
    }


def bucket_manifest(s3: S3Server, bucket: str, source_id: str) -> dict[str, Any]:
    return json.loads(s3.get(bucket, f"dl/zenodo/{source_id}/manifest.json"))


def test_small_and_multipart_files_land_verified_in_the_bucket(s3_server: S3Server, tmp_path: Path) -> None:
    s3, bucket, data = s3_server, s3_server.bucket(), tmp_path / "data"
    small = {f"img/{i}.png": blob(3000 + 101 * i, f"s3small{i}") for i in range(3)}
    big = blob(2 * PART + 4321, "s3big")  # three parts: 5 MiB, 5 MiB, the rest
    with StallingFileServer() as server:
        files = [file_entry(n, d, server.put(f"a/{n}", d)) for n, d in small.items()]
        files.append(file_entry("oct/volume.bin", big, server.put("a/volume.bin", big)))
        files.append(file_entry("again/0.png", small["img/0.png"], server.url("a/img/0.png")))  # same URL twice
        store(data, "1", files)
        code, stats, log = run_download(data, s3_download_settings(s3, bucket))
        assert code == 0, log[-3000:]

        assert s3.keys(bucket) == sorted(
            [f"dl/zenodo/1/{n}" for n in [*small, "again/0.png", "oct/volume.bin", "manifest.json"]]
        )  # no journal, no temporary key left
        assert s3.get(bucket, "dl/zenodo/1/again/0.png") == small["img/0.png"]  # a server-side copy
        for name, payload in small.items():
            assert s3.sha256(bucket, f"dl/zenodo/1/{name}") == hashlib.sha256(payload).hexdigest()
        assert s3.sha256(bucket, "dl/zenodo/1/oct/volume.bin") == hashlib.sha256(big).hexdigest()
        head = s3.client.head_object(Bucket=bucket, Key="dl/zenodo/1/oct/volume.bin")
        assert head["ETag"].strip('"').endswith("-3")  # S3's multipart ETag: three parts
        assert s3.uploads(bucket) == []
        assert not (data / "downloads").exists()  # nothing written to local files

        entries = {f["name"]: f for f in bucket_manifest(s3, bucket, "1")["files"]}
        assert entries["again/0.png"]["mode"] == "copied" and entries["img/0.png"]["mode"] == "whole"
        entry = entries["oct/volume.bin"]
        assert entry["status"] == "complete" and entry["mode"] == "ranged"
        assert entry["md5"] == hashlib.md5(big).hexdigest() and entry["verification"] == "md5 matches the repository"
        ranges = sorted(s.range for s in server.served if s.name == "a/volume.bin")  # two in flight at once
        assert ranges == [(0, PART), (PART, 2 * PART), (2 * PART, len(big))]
        assert stats["parts_uploaded"] == 3 and stats["uploads_completed"] == 1
        assert stats["files/complete"] == 4 and stats["files/linked_duplicate_url"] == 1

        # a rerun asks the object store (HEAD), not the file server; REVERIFY reads the objects back
        server.served.clear()
        code, stats, log = run_download(data, s3_download_settings(s3, bucket))
        assert code == 0, log[-3000:]
        assert server.served == [] and stats["files/already_present"] == 4  # the copy comes from the media cache
        s3.client.put_object(Bucket=bucket, Key="dl/zenodo/1/img/1.png", Body=b"x" * len(small["img/1.png"]))
        code, stats, log = run_download(data, s3_download_settings(s3, bucket, ENVISION_DOWNLOAD_REVERIFY=True))
        assert code == 0, log[-3000:]
        assert stats["files/already_present"] == 3  # the damaged object failed its re-hash...
        assert [s.name for s in server.served] == ["a/img/1.png"]  # ...and was fetched again
        assert s3.get(bucket, "dl/zenodo/1/img/1.png") == small["img/1.png"]


def test_a_corrupt_file_is_aborted_and_nothing_appears_under_its_key(s3_server: S3Server, tmp_path: Path) -> None:
    """Also: ``scrapy download`` reads its records from ENVISION_STORE_URL (here the same bucket)."""
    s3, bucket, data = s3_server, s3_server.bucket(), tmp_path / "data"
    big, small = blob(PART + 999, "bad-big"), blob(4000, "bad-small")
    with StallingFileServer() as server:
        store(data, "1", [
            file_entry("big.bin", big, server.put("b/big.bin", big), checksum=md5(b"something else")),
            file_entry("small.bin", small, server.put("b/small.bin", small), checksum=md5(b"other")),
        ])
        local = record_path(data, "zenodo", "1")
        s3.client.put_object(Bucket=bucket, Key="records/metadata/zenodo/1.json", Body=local.read_bytes())
        local.unlink()
        code, stats, log = run_download(
            data, s3_download_settings(s3, bucket, ENVISION_STORE_URL=f"s3://{bucket}/records")
        )
    assert code == 1, log[-3000:]
    assert stats["stored/read"] == 1
    assert [k for k in s3.keys(bucket) if k.startswith("dl/")] == ["dl/zenodo/1/manifest.json"]  # no file, no journal
    assert s3.uploads(bucket) == []  # the multipart upload was aborted, its parts dropped
    man = bucket_manifest(s3, bucket, "1")
    assert all(f["status"].startswith("failed: md5 mismatch") for f in man["files"])
    assert stats["checksum_mismatch"] == 2 and stats["uploads_aborted"] == 1


def test_killed_multipart_upload_resumes_with_the_parts_in_the_store(s3_server: S3Server, tmp_path: Path) -> None:
    """SIGKILL after two parts went up, rerun: the upload is found again (journal + ListParts),
    the two parts are not uploaded again, and the completed object verifies."""
    s3, bucket, data = s3_server, s3_server.bucket(), tmp_path / "data"
    big = blob(3 * PART + 77, "s3kill")  # four parts
    one_at_a_time = {"ENVISION_DOWNLOAD_RANGES_IN_FLIGHT": 1}  # part k is up before range k+1 is asked
    settings = s3_download_settings(s3, bucket, **one_at_a_time)
    with StallingFileServer() as server:
        store(data, "1", [file_entry("big.bin", big, server.put("k/big.bin", big))])
        server.stall_after(2)
        proc = start_download(data, tmp_path / "first.log", settings)
        try:
            assert server.stalled.wait(90), (tmp_path / "first.log").read_text()[-3000:]
        finally:
            kill(proc)
            server.resume(drop=True)

        [upload] = s3.uploads(bucket)
        assert upload["Key"] == "dl/zenodo/1/big.bin"
        parts = s3.client.list_parts(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])["Parts"]
        assert [p["PartNumber"] for p in parts] == [1, 2]
        journal = json.loads(s3.get(bucket, "dl/zenodo/1/big.bin.part.json"))
        assert journal["upload_id"] == upload["UploadId"] and journal["part_size"] == PART
        assert "dl/zenodo/1/big.bin" not in s3.keys(bucket)
        assert bucket_manifest(s3, bucket, "1")["status"] == "pending"

        server.served.clear()
        code, stats, log = run_download(data, settings)
        assert code == 0, log[-3000:]
    assert s3.sha256(bucket, "dl/zenodo/1/big.bin") == hashlib.sha256(big).hexdigest()
    assert s3.uploads(bucket) == [] and "dl/zenodo/1/big.bin.part.json" not in s3.keys(bucket)
    entry = bucket_manifest(s3, bucket, "1")["files"][0]
    assert entry["status"] == "complete" and entry["mode"] == "ranged-resumed"
    assert stats["resumed"] == 1 and stats["parts_at_resume"] == 2
    assert stats["parts_reused"] == 2 and stats["parts_uploaded"] == 2  # only parts 3 and 4 went up
    # the finished parts were read again from the origin to hash the file in order (If-Range)
    assert [s.status for s in server.served] == [206] * 4



def test_a_journal_whose_upload_is_gone_starts_a_new_upload(s3_server: S3Server, tmp_path: Path) -> None:
    """An upload aborted behind our back (a lifecycle rule, an operator) leaves a journal that
    points nowhere: the download starts over instead of failing."""
    s3, bucket, data = s3_server, s3_server.bucket(), tmp_path / "data"
    big = blob(PART + 1, "gone")
    with StallingFileServer() as server:
        url = server.put("g/big.bin", big)
        store(data, "1", [file_entry("big.bin", big, url)])
        stale = {"version": 1, "url": url, "key": "dl/zenodo/1/big.bin", "size": len(big), "part_size": PART,
                 "validator": {}, "upload_id": "no-such-upload"}
        s3.client.put_object(Bucket=bucket, Key="dl/zenodo/1/big.bin.part.json", Body=json.dumps(stale).encode())
        code, stats, log = run_download(data, s3_download_settings(s3, bucket))
    assert code == 0, log[-3000:]
    assert s3.sha256(bucket, "dl/zenodo/1/big.bin") == hashlib.sha256(big).hexdigest()
    assert bucket_manifest(s3, bucket, "1")["files"][0]["mode"] == "ranged"
    assert "dl/zenodo/1/big.bin.part.json" not in s3.keys(bucket) and s3.uploads(bucket) == []
    assert "uploads_aborted" not in stats and stats["uploads_completed"] == 1


def test_a_file_of_unknown_size_goes_up_as_a_multipart_upload_of_what_the_server_says(
    s3_server: S3Server, tmp_path: Path
) -> None:
    """No size in the record: the ranged path asks the first part and learns the size from
    Content-Range; a file smaller than one part is a one-part upload."""
    s3, bucket, data = s3_server, s3_server.bucket(), tmp_path / "data"
    small = blob(40_000, "unknown-size")
    with StallingFileServer() as server:
        entry = file_entry("u.bin", small, server.put("u/u.bin", small))
        entry["size"] = None
        store(data, "1", [entry])
        code, stats, log = run_download(data, s3_download_settings(s3, bucket))
    assert code == 0, log[-3000:]
    assert s3.get(bucket, "dl/zenodo/1/u.bin") == small
    head = s3.client.head_object(Bucket=bucket, Key="dl/zenodo/1/u.bin")
    assert head["ETag"].strip('"').endswith("-1")  # a multipart object of one part
    assert stats["parts_uploaded"] == 1 and bucket_manifest(s3, bucket, "1")["files"][0]["bytes"] == len(small)


def test_file_changed_after_a_crash_aborts_the_old_upload_and_starts_again(s3_server: S3Server, tmp_path: Path) -> None:
    """If-Range: the resumed run meets a new ETag, drops the old upload (no parts left behind)
    and uploads the new file from its first byte."""
    s3, bucket, data = s3_server, s3_server.bucket(), tmp_path / "data"
    old, new = blob(2 * PART + 5, "chg-old"), blob(2 * PART + 5, "chg-new")  # same size, new ETag
    settings = s3_download_settings(s3, bucket, ENVISION_DOWNLOAD_RANGES_IN_FLIGHT=1)
    with StallingFileServer() as server:
        store(data, "1", [file_entry("f.bin", new, server.put("c/f.bin", old), checksum=None)])
        server.stall_after(2)
        proc = start_download(data, tmp_path / "first.log", settings)
        try:
            assert server.stalled.wait(90), (tmp_path / "first.log").read_text()[-3000:]
        finally:
            kill(proc)
            server.resume(drop=True)
        [stale] = s3.uploads(bucket)
        server.put("c/f.bin", new)
        code, stats, log = run_download(data, settings)
    assert code == 0, log[-3000:]
    assert s3.get(bucket, "dl/zenodo/1/f.bin") == new
    assert stats["changed_midway"] == 1 and stats["uploads_aborted"] == 1
    assert s3.uploads(bucket) == [] and stale["UploadId"] not in str(s3.keys(bucket))
