"""The record store on an S3-protocol server (moto on loopback): the same writer and readers as
the local files, checked through the object store's own listing and GETs."""

from __future__ import annotations

import asyncio
import functools
import json
import threading

import pytest
from scrapy.settings import Settings

from envision_spiders.state.batch import GroupCommit, group_commit_for_crawler
from envision_spiders.state.db import open_state
from envision_spiders.state.objects import DEFAULT_POOL_CONNECTIONS, S3Config, S3Location, make_client
from envision_spiders.state.store import (
    LocalRecords,
    PutsFailed,
    RecordStore,
    S3Records,
    StoreConfig,
    open_records,
    records_for_crawler,
    stored_records,
)
from tests.conftest import project_crawler
from tests.servers.s3 import S3Server

AT = "2026-01-01T00:00:00+00:00"


def s3_settings(server: S3Server, url: str, data_dir) -> Settings:
    return Settings({"ENVISION_DATA_DIR": str(data_dir), "ENVISION_STORE_URL": url, **server.settings()})


def record(source: str, source_id: str, title: str, **extra) -> dict:
    return {"source": source, "source_id": source_id, "title": title, "scraped_at": "t1", "duplicate_of": None, **extra}


def test_store_url_selects_the_backend_and_a_bad_url_fails_at_start(tmp_path) -> None:
    local = StoreConfig.from_settings(Settings({"ENVISION_DATA_DIR": str(tmp_path)}))
    assert isinstance(open_records(local), LocalRecords)
    assert S3Location.parse("s3://b/a/prefix/") == S3Location("b", "a/prefix")
    assert S3Location("b", "p").key("metadata/x.json") == "p/metadata/x.json"
    with pytest.raises(ValueError, match="s3://bucket/prefix"):
        StoreConfig.from_settings(Settings({"ENVISION_DATA_DIR": str(tmp_path), "ENVISION_STORE_URL": "/tmp/x"}))
    with pytest.raises(ValueError, match="no bucket"):
        StoreConfig.from_settings(Settings({"ENVISION_DATA_DIR": str(tmp_path), "ENVISION_STORE_URL": "s3:///x"}))


def test_aws_settings_are_read_once_and_secrets_stay_out_of_repr() -> None:
    config = S3Config.from_settings(Settings({
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9000", "AWS_SECRET_ACCESS_KEY": "very-secret",
        "AWS_USE_SSL": "False", "AWS_VERIFY": "0",
    }))
    assert config.endpoint_url == "http://127.0.0.1:9000"
    assert config.use_ssl is False and config.verify is False
    assert "very-secret" not in repr(config)


def test_records_round_trip_through_the_object_store_and_list_in_name_order(s3_server: S3Server, tmp_path) -> None:
    bucket = s3_server.bucket()
    settings = s3_settings(s3_server, f"s3://{bucket}/crawl", tmp_path / "data")
    config = StoreConfig.from_settings(settings)
    store = RecordStore(config, open_state(None, tmp_path / "data"))
    assert isinstance(store.backend, S3Records)

    store.write(record("zenodo", "2", "b"), ["10.5281/zenodo.2"], "m", "t1")
    store.write(record("dryad", "doi:10.5061/dryad.x", "d"), [], "m", "t1")
    store.write(record("zenodo", "1", "a"), [], "m", "t1")
    store.write(record("zenodo", "1", "a2"), [], "m2", "t2")  # a PUT replaces the object

    assert s3_server.keys(bucket) == [
        "crawl/metadata/dryad/doi%3A10.5061%2Fdryad.x.json",
        "crawl/metadata/zenodo/1.json",
        "crawl/metadata/zenodo/2.json",
    ]
    assert json.loads(s3_server.get(bucket, "crawl/metadata/zenodo/1.json"))["title"] == "a2"
    assert not (tmp_path / "data" / "metadata").exists()  # nothing went to local files

    listed = list(stored_records(settings))
    assert [where for where, _ in listed] == [f"s3://{bucket}/{key}" for key in s3_server.keys(bucket)]
    assert [r["title"] for _, r in listed] == ["d", "a2", "b"]
    assert [r["source_id"] for _, r in stored_records(settings, ["zenodo"])] == ["1", "2"]
    assert store.backend.exists(("zenodo", "2")) and not store.backend.exists(("zenodo", "3"))
    with pytest.raises(FileNotFoundError):
        store.backend.get(("zenodo", "3"))


def test_supersede_and_update_rewrite_objects_as_they_do_files(s3_server: S3Server, tmp_path) -> None:
    bucket = s3_server.bucket()
    config = StoreConfig.from_settings(s3_settings(s3_server, f"s3://{bucket}", tmp_path / "data"))
    store = RecordStore(config, open_state(None, tmp_path / "data"))
    scored = record("zenodo", "1", "a")
    store.write(dict(scored), ["10.1/x"], "m", "t1")
    assert store.update(("zenodo", "1"), {"label": "EYE_IMAGING"}, scored, AT)
    assert json.loads(s3_server.get(bucket, "metadata/zenodo/1.json"))["label"] == "EYE_IMAGING"

    assert store.supersede(("zenodo", "1"), ("datacite", "10.1/x")) == [("zenodo", "1")]
    stored = json.loads(s3_server.get(bucket, "metadata/zenodo/1.json"))
    assert stored["duplicate_of"] == "datacite:10.1/x" and stored["label"] == "EYE_IMAGING"  # data kept
    assert store.state.lookup("zenodo", "1")["duplicate_of"]


def test_one_client_reads_what_another_wrote(s3_server: S3Server, tmp_path) -> None:
    """Two nodes sharing the store: records written by one are read by the other's client."""
    bucket = s3_server.bucket()
    settings = s3_settings(s3_server, f"s3://{bucket}/p", tmp_path)
    location = S3Location.parse(f"s3://{bucket}/p")
    writer = S3Records(make_client(S3Config.from_settings(settings)), location)
    reader = S3Records(make_client(S3Config.from_settings(settings)), location)
    assert not reader.exists(("osf", "abc"))  # the reader lists the source once here
    writer.put(("osf", "abc"), record("osf", "abc", "o"))
    assert reader.get(("osf", "abc"))["title"] == "o"
    assert reader.exists(("osf", "abc"))  # not in its listing: found by HEAD


class WatchedClient:
    """The real client, with ``put_object`` refusing ``refuse`` keys and the first ``meet`` PUTs
    waiting for each other (a barrier: writes sent one after the other never meet)."""

    def __init__(self, client, refuse: set[str] = frozenset(), meet: int = 0) -> None:
        self.client = client
        self.refuse = refuse
        self.barrier = threading.Barrier(meet, timeout=10) if meet else None
        self.sent: list[str] = []

    def __getattr__(self, name):
        return getattr(self.client, name)

    def put_object(self, **kwargs):
        self.sent.append(kwargs["Key"])
        if self.barrier is not None and len(self.sent) <= self.barrier.parties:
            self.barrier.wait()
        if kwargs["Key"] in self.refuse:
            raise ConnectionError(f"refused {kwargs['Key']}")
        return self.client.put_object(**kwargs)


def s3_records(server: S3Server, tmp_path, **watch) -> tuple[str, S3Records, WatchedClient]:
    bucket = server.bucket()
    settings = s3_settings(server, f"s3://{bucket}", tmp_path)
    client = WatchedClient(make_client(S3Config.from_settings(settings)), **watch)
    return bucket, S3Records(client, S3Location(bucket), put_threads=4), client


def test_writes_held_together_are_read_back_then_sent_concurrently(s3_server: S3Server, tmp_path) -> None:
    bucket, records, client = s3_records(s3_server, tmp_path, meet=4)
    owners = [("zenodo", str(n)) for n in range(12)]
    with records.puts_together():
        for owner in owners:
            records.put(owner, record(*owner, "first"))
        records.put(owners[0], record(*owners[0], "second"))  # the last write of a key wins
        assert records.get(owners[0])["title"] == "second" and records.exists(owners[5])
        assert client.sent == [] and s3_server.keys(bucket) == []  # nothing sent inside the block
    # four PUTs met at the barrier: they were in flight together
    assert sorted(client.sent) == sorted(records.key(o) for o in owners)
    assert len(s3_server.keys(bucket)) == 12
    assert json.loads(s3_server.get(bucket, "metadata/zenodo/0.json"))["title"] == "second"


def test_a_refused_write_fails_the_block_after_the_others_were_sent(s3_server: S3Server, tmp_path) -> None:
    bucket, records, _ = s3_records(s3_server, tmp_path, refuse={"metadata/zenodo/1.json"})
    with pytest.raises(PutsFailed, match=r"1 object write\(s\) failed, first metadata/zenodo/1.json: ConnectionError"):
        with records.puts_together():
            for n in range(3):
                records.put(("zenodo", str(n)), record("zenodo", str(n), "t"))
    assert sorted(s3_server.keys(bucket)) == ["metadata/zenodo/0.json", "metadata/zenodo/2.json"]
    with pytest.raises(RuntimeError), records.puts_together():  # a block that raises sends nothing
        records.put(("zenodo", "9"), record("zenodo", "9", "t"))
        raise RuntimeError("step failed")
    assert "metadata/zenodo/9.json" not in s3_server.keys(bucket)


def test_in_a_group_commit_the_record_whose_write_is_refused_fails_alone(s3_server: S3Server, tmp_path) -> None:
    bucket, backend, client = s3_records(s3_server, tmp_path, refuse={"metadata/zenodo/1.json"})
    config = StoreConfig.from_settings(s3_settings(s3_server, f"s3://{bucket}", tmp_path / "data"))
    store = RecordStore(config, open_state(None, tmp_path / "data"), backend)
    commits = GroupCommit(store.state, puts_together=backend.puts_together)

    async def write_all() -> list:
        steps = [functools.partial(store.write, record("zenodo", str(n), "t"), [f"10.1/{n}"], "m", AT) for n in range(3)]
        return await asyncio.gather(*(commits.run(step) for step in steps), return_exceptions=True)

    results = asyncio.run(write_all())
    assert results[0] is None and results[2] is None and isinstance(results[1], ConnectionError)
    assert store.state.lookup("zenodo", "0") and store.state.lookup("zenodo", "2")
    assert store.state.lookup("zenodo", "1") is None  # not stored: the next crawl takes it again
    assert sorted(s3_server.keys(bucket)) == ["metadata/zenodo/0.json", "metadata/zenodo/2.json"]
    # tried together first (three PUTs), then one transaction each (three more)
    assert len(client.sent) == 6


def test_a_crawls_components_share_one_record_backend_whose_writes_its_group_commit_holds(
    s3_server: S3Server, tmp_path
) -> None:
    crawler = project_crawler(ENVISION_DATA_DIR=str(tmp_path), ENVISION_STORE_URL=f"s3://{s3_server.bucket()}",
                              **s3_server.settings())
    backend = records_for_crawler(crawler)
    assert isinstance(backend, S3Records) and backend.put_threads == DEFAULT_POOL_CONNECTIONS
    assert records_for_crawler(crawler, StoreConfig.from_settings(crawler.settings)) is backend
    assert group_commit_for_crawler(crawler).puts_together == backend.puts_together
