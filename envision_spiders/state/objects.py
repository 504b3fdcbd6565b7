"""The S3-compatible object store: where ``s3://bucket/prefix`` URLs point, and the one client.

What enters: Scrapy's own S3 settings, the ones its S3 feed storage and ``S3FilesStore`` read
(``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_ENDPOINT_URL``,
``AWS_REGION_NAME``, ``AWS_USE_SSL``, ``AWS_VERIFY``, ``AWS_MAX_POOL_CONNECTIONS``), read once
into an :class:`S3Config`. Unset credentials fall to botocore's own chain (the environment's
``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``~/.aws``): the recommended place, since Scrapy
logs settings given with ``-s``. What leaves: an :class:`S3Location` per URL and a botocore
client; :func:`client_for_crawler` gives every component of a crawl the same client (the record
store, gated downloads). Who calls it: ``state/store.py`` (records), ``pipelines/files.py`` and
``downloads/`` (files). Scrapy's feed storage builds its own client from the same settings.

The object store is a configured endpoint, not crawled content: its requests go through
botocore, not Scrapy's downloader, so the network fence (``ENVISION_FENCE_ALLOW``) does not
apply to them.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any

S3_SCHEME = "s3://"
# connections of the one client (botocore's default is 10): the record store sends a batch of
# record writes from this many threads at once (state/store.py), the downloads their parts
DEFAULT_POOL_CONNECTIONS = 32


def is_s3_url(url: str | None) -> bool:
    return bool(url) and str(url).startswith(S3_SCHEME)


@dataclass(frozen=True)
class S3Location:
    """``s3://bucket/prefix``: a bucket and a key prefix (no leading or trailing ``/``)."""

    bucket: str
    prefix: str = ""

    @classmethod
    def parse(cls, url: str) -> S3Location:
        if not is_s3_url(url):
            raise ValueError(f"not an s3:// URL: {url!r}")
        bucket, _, prefix = url[len(S3_SCHEME):].partition("/")
        if not bucket:
            raise ValueError(f"no bucket in {url!r}")
        return cls(bucket, prefix.strip("/"))

    def key(self, relative: str) -> str:
        """The object key of ``relative`` (a ``/``-separated path) below the prefix."""
        relative = relative.lstrip("/")
        return f"{self.prefix}/{relative}" if self.prefix else relative

    def url(self, relative: str = "") -> str:
        key = self.key(relative) if relative else self.prefix
        return f"{S3_SCHEME}{self.bucket}/{key}" if key else f"{S3_SCHEME}{self.bucket}"


@dataclass(frozen=True)
class S3Config:
    """Scrapy's ``AWS_*`` settings, read once. Secrets are kept out of ``repr``."""

    endpoint_url: str | None = None
    region_name: str | None = None
    use_ssl: bool | None = None
    verify: bool | str | None = None
    max_pool_connections: int | None = None
    access_key: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)

    @property
    def pool_connections(self) -> int:
        """``AWS_MAX_POOL_CONNECTIONS``, else :data:`DEFAULT_POOL_CONNECTIONS`."""
        return self.max_pool_connections or DEFAULT_POOL_CONNECTIONS

    @classmethod
    def from_settings(cls, settings: Any) -> S3Config:
        def optional(name: str) -> Any:
            value = settings.get(name)
            return None if value in (None, "") else value

        def optional_bool(name: str) -> bool | None:
            return None if optional(name) is None else settings.getbool(name)

        verify = optional("AWS_VERIFY")
        if verify is not None and str(verify).lower() in {"0", "1", "true", "false"}:
            verify = settings.getbool("AWS_VERIFY")  # a CA bundle path stays a path
        return cls(
            endpoint_url=optional("AWS_ENDPOINT_URL"),
            region_name=optional("AWS_REGION_NAME"),
            use_ssl=optional_bool("AWS_USE_SSL"),
            verify=verify,
            max_pool_connections=settings.getint("AWS_MAX_POOL_CONNECTIONS") or None,
            access_key=optional("AWS_ACCESS_KEY_ID"),
            secret_key=optional("AWS_SECRET_ACCESS_KEY"),
            session_token=optional("AWS_SESSION_TOKEN"),
        )


def make_client(config: S3Config) -> Any:
    """A botocore S3 client (thread-safe: components call it from worker threads)."""
    try:
        import botocore.session  # noqa: PLC0415  (optional dependency: the `s3` extra)
        from botocore.config import Config  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError("s3:// storage needs botocore: install the project's `s3` extra") from exc
    options: dict[str, Any] = {
        "retries": {"mode": "standard", "max_attempts": 5},
        "max_pool_connections": config.pool_connections,
    }
    kwargs: dict[str, Any] = {
        "aws_access_key_id": config.access_key,
        "aws_secret_access_key": config.secret_key,
        "aws_session_token": config.session_token,
        "endpoint_url": config.endpoint_url,
        # S3 answers in any region for a custom endpoint (MinIO, Ceph); botocore needs one to sign
        "region_name": config.region_name or "us-east-1",
        "config": Config(**options),
    }
    if config.use_ssl is not None:
        kwargs["use_ssl"] = config.use_ssl
    if config.verify is not None:
        kwargs["verify"] = config.verify
    return botocore.session.get_session().create_client("s3", **kwargs)


_by_crawler: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def client_for_crawler(crawler: Any) -> Any:
    """The one S3 client of a crawl, shared by the record store and the downloads."""
    client = _by_crawler.get(crawler)
    if client is None:
        client = _by_crawler[crawler] = make_client(S3Config.from_settings(crawler.settings))
    return client


def is_missing(exc: BaseException) -> bool:
    """A botocore error that means "not there": no such key (GET answers NoSuchKey, HEAD a bare
    404) or no such multipart upload (completed or aborted already)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return False
    error = response.get("Error") or {}
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    return error.get("Code") in {"NoSuchKey", "NoSuchUpload", "404", "NotFound"} or status == 404
