"""``ENVISION_INSPECT_*`` settings, read and validated once (in ``ArchiveInspectionPipeline.from_crawler``).

What enters: the crawler's settings. What leaves: a frozen :class:`InspectConfig`, handed to the
drivers (``inspection/drivers.py``); a bad value raises ``NotConfigured`` with the setting's
name. Defaults live in ``settings.py`` (the dataclass defaults mirror them for tests).
"""

from __future__ import annotations

from dataclasses import dataclass

from scrapy.exceptions import NotConfigured
from scrapy.settings import BaseSettings


@dataclass(frozen=True)
class InspectConfig:
    """``ENVISION_INSPECT_*`` settings, read and validated once."""

    max_requests: int = 24
    max_bytes: int = 48 << 20
    tail_bytes: int = 64 << 10
    max_cd_bytes: int = 32 << 20
    max_entries: int = 1_000_000
    sniff_count: int = 8
    sniff_bytes: int = 16 << 10
    sniff_merge_gap: int = 4 << 10
    sample_names: int = 20
    max_archives: int = 10
    max_file_names: int = 200
    tar_read_bytes: int = 4 << 20
    tar_gap_bytes: int = 1 << 20
    stream_chunk_bytes: int = 2 << 20
    stream_prefix_bytes: int = 8 << 20
    stream_max_output: int = 256 << 20
    multirange: bool = True
    concurrency: int = 4
    decompress_seconds: float = 20.0

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> InspectConfig:
        """The checked config; ``NotConfigured`` when inspection is off or a value is out of range."""
        if not settings.getbool("ENVISION_INSPECT_ENABLED", True):
            raise NotConfigured  # switched off on purpose: no WARNING

        def size(name: str, default: int, minimum: int = 1) -> int:
            value = settings.getint(name, default)
            if value < minimum:
                raise NotConfigured(f"{name}={value} must be >= {minimum}")
            return value

        d = cls()
        config = cls(
            max_requests=size("ENVISION_INSPECT_MAX_REQUESTS", d.max_requests),
            max_bytes=size("ENVISION_INSPECT_MAX_BYTES", d.max_bytes, 1024),
            tail_bytes=size("ENVISION_INSPECT_TAIL_BYTES", d.tail_bytes, 22),
            max_cd_bytes=size("ENVISION_INSPECT_MAX_CD_BYTES", d.max_cd_bytes, 46),
            max_entries=size("ENVISION_INSPECT_MAX_ENTRIES", d.max_entries),
            sniff_count=size("ENVISION_INSPECT_SNIFF_COUNT", d.sniff_count, 0),
            sniff_bytes=size("ENVISION_INSPECT_SNIFF_BYTES", d.sniff_bytes, 64),
            sniff_merge_gap=size("ENVISION_INSPECT_SNIFF_MERGE_GAP", d.sniff_merge_gap, 0),
            sample_names=size("ENVISION_INSPECT_SAMPLE_NAMES", d.sample_names, 0),
            max_archives=size("ENVISION_INSPECT_MAX_ARCHIVES", d.max_archives, 0),
            max_file_names=size("ENVISION_INSPECT_MAX_FILE_NAMES", d.max_file_names, 0),
            tar_read_bytes=size("ENVISION_INSPECT_TAR_READ_BYTES", d.tar_read_bytes, 512),
            tar_gap_bytes=size("ENVISION_INSPECT_TAR_GAP_BYTES", d.tar_gap_bytes, 0),
            stream_chunk_bytes=size("ENVISION_INSPECT_STREAM_CHUNK_BYTES", d.stream_chunk_bytes, 1024),
            stream_prefix_bytes=size("ENVISION_INSPECT_STREAM_PREFIX_BYTES", d.stream_prefix_bytes, 1024),
            stream_max_output=size("ENVISION_INSPECT_STREAM_MAX_OUTPUT", d.stream_max_output, 1024),
            multirange=settings.getbool("ENVISION_INSPECT_MULTIRANGE", d.multirange),
            concurrency=size("ENVISION_INSPECT_CONCURRENCY", d.concurrency),
            decompress_seconds=settings.getfloat("ENVISION_INSPECT_DECOMPRESS_SECONDS", d.decompress_seconds),
        )
        pool = settings.getint("REACTOR_THREADPOOL_MAXSIZE", 10)
        if config.concurrency >= pool:  # the drivers' thread calls must leave threads for DNS
            raise NotConfigured(f"ENVISION_INSPECT_CONCURRENCY must be below REACTOR_THREADPOOL_MAXSIZE={pool}")
        if not config.decompress_seconds > 0:
            raise NotConfigured(f"ENVISION_INSPECT_DECOMPRESS_SECONDS={config.decompress_seconds} must be > 0")
        if config.tail_bytes > config.max_bytes:
            raise NotConfigured("ENVISION_INSPECT_TAIL_BYTES exceeds ENVISION_INSPECT_MAX_BYTES")
        return config
