"""A real S3-protocol server on loopback for tests: moto's server (``moto[server]``, from PyPI),
run as a plain process (``python -m moto.server -H 127.0.0.1 -p PORT``), one per test session.

Each test makes its own bucket (``s3.bucket()``), so tests never see each other's objects. The
client here is the test's own botocore client (the object store's listing and checksums are
what tests check); the code under test gets the endpoint through Scrapy's ``AWS_*`` settings
(``s3.settings(url)``). moto keeps objects in memory: only small and medium files belong here.
"""

from __future__ import annotations

import hashlib
import itertools
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers.nginx import free_port

ACCESS_KEY = "test-access-key"
SECRET_KEY = "test-secret-key"
_buckets = itertools.count(1)


class S3Server:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._client: Any = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> S3Server:
        self.port = free_port()
        log = open(self.workdir / "moto.log", "wb")  # noqa: SIM115 (the process keeps it)
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
        )
        log.close()
        waited = 0.0
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                pass
            try:
                self._proc.wait(timeout=0.1)
            except subprocess.TimeoutExpired:
                waited += 0.1
                if waited > timeout:
                    self.stop()
                    raise RuntimeError(f"moto server did not start: {self.log()}") from None
                continue
            raise RuntimeError(f"moto server exited: {self.log()}")

    def log(self) -> str:
        path = self.workdir / "moto.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    # --- the test's own view of the store ------------------------------------------------
    @property
    def client(self) -> Any:
        if self._client is None:
            import botocore.session

            self._client = botocore.session.get_session().create_client(
                "s3", endpoint_url=self.endpoint, region_name="us-east-1",
                aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
            )
        return self._client

    def bucket(self, name: str = "envision") -> str:
        """A new empty bucket, unique in the session."""
        bucket = f"{name}-{next(_buckets)}"
        self.client.create_bucket(Bucket=bucket)
        return bucket

    def settings(self) -> dict[str, str]:
        """Scrapy's AWS_* settings pointing at this server (credentials: any value works)."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION_NAME": "us-east-1",
        }

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(obj["Key"] for page in pages for obj in page.get("Contents") or [])

    def get(self, bucket: str, key: str) -> bytes:
        return self.client.get_object(Bucket=bucket, Key=key)["Body"].read()

    def sha256(self, bucket: str, key: str) -> str:
        """The object's bytes hashed here, after a GET: the store's own content, not our metadata."""
        digest = hashlib.sha256()
        body = self.client.get_object(Bucket=bucket, Key=key)["Body"]
        for block in iter(lambda: body.read(1 << 20), b""):
            digest.update(block)
        return digest.hexdigest()

    def uploads(self, bucket: str) -> list[dict[str, Any]]:
        """Multipart uploads begun and neither completed nor aborted."""
        return self.client.list_multipart_uploads(Bucket=bucket).get("Uploads") or []


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A session-wide S3-protocol server (moto) on loopback; each test makes its own bucket."""
    pytest.importorskip("moto", reason="moto[server] is not installed (the project's test extra)")
    server = S3Server(tmp_path_factory.mktemp("s3"))
    server.start()
    try:
        yield server
    finally:
        server.stop()
