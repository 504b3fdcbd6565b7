"""``ENVISION_DOWNLOAD_*`` settings, read and validated once (in ``GatedFilesPipeline.from_crawler``).

What enters: the crawler's settings and the source tokens of ``ENVISION_FILE_AUTH``
(``credentials.file_tokens``, shared with archive inspection). What leaves: a frozen :class:`DownloadConfig` (with the
:class:`FetchConfig` of ``downloads/fetch.py``); a bad value raises ``NotConfigured`` with the
setting's name. Defaults live in ``settings.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from scrapy.exceptions import NotConfigured
from scrapy.settings import BaseSettings

from envision_spiders.http.credentials import ApiToken, file_tokens


@dataclass(frozen=True)
class FetchConfig:
    """How one file is fetched (``downloads/fetch.py``)."""

    chunk_size: int
    chunk_threshold: int
    ranges_in_flight: int
    max_whole_body: int
    fsync: bool = False
    progress_interval: float = 0.0  # seconds between a ranged file's progress lines (0: none)


@dataclass(frozen=True)
class DownloadConfig:
    """Everything GatedFilesPipeline needs from the settings."""

    threshold: float
    eye_evidence_required: bool
    max_record_bytes: int
    max_total_bytes: int
    reverify: bool
    fsync: bool
    fetch: FetchConfig
    concurrency_per_host: int
    concurrency: int
    auth: dict[str, ApiToken] = field(default_factory=dict, repr=False)  # source -> its token (same origin only); never logged

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> DownloadConfig:
        if not settings.getbool("ENVISION_DOWNLOAD"):
            raise NotConfigured  # downloads off (the default): no WARNING

        def at_least(name: str, minimum: int) -> int:
            value = settings.getint(name)
            if value < minimum:
                raise NotConfigured(f"{name}={value} must be >= {minimum}")
            return value

        fsync = settings.getbool("ENVISION_STORE_FSYNC")
        return cls(
            threshold=settings.getfloat("ENVISION_DOWNLOAD_THRESHOLD"),
            eye_evidence_required=settings.getbool("ENVISION_DOWNLOAD_REQUIRE_EYE_EVIDENCE"),
            max_record_bytes=settings.getint("ENVISION_DOWNLOAD_MAX_RECORD_BYTES"),
            max_total_bytes=settings.getint("ENVISION_DOWNLOAD_MAX_TOTAL_BYTES"),
            reverify=settings.getbool("ENVISION_DOWNLOAD_REVERIFY"),
            fsync=fsync,
            fetch=FetchConfig(
                chunk_size=at_least("ENVISION_DOWNLOAD_CHUNK_SIZE", 1),
                chunk_threshold=settings.getint("ENVISION_DOWNLOAD_CHUNK_THRESHOLD"),
                ranges_in_flight=at_least("ENVISION_DOWNLOAD_RANGES_IN_FLIGHT", 1),
                max_whole_body=settings.getint("ENVISION_DOWNLOAD_MAX_WHOLE_BODY"),
                fsync=fsync,
                progress_interval=settings.getfloat("ENVISION_DOWNLOAD_PROGRESS_INTERVAL"),
            ),
            concurrency_per_host=settings.getint("ENVISION_DOWNLOAD_CONCURRENCY_PER_HOST"),
            concurrency=settings.getint("ENVISION_DOWNLOAD_CONCURRENCY"),
            auth=file_tokens(settings),
        )

