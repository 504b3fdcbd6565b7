"""The progress figures of one crawl, computed from its stats (pure), and their one-line wording.

``expected``: the hits the searches reported (``envision/search/total`` from offset paging,
``envision/listing/total`` from links paging); ``handled``: hits that reached an end — items
scraped or dropped, records skipped as unchanged, hits left out as repeated or unreadable. The
ETA assumes the rest goes at the average rate so far.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

HANDLED_KEYS = (
    "item_scraped_count",
    "item_dropped_count",
    "envision/incremental/unchanged",
    "envision/search/repeated_hits",
    "envision/listing/repeated_entries",
    "envision/listing/unreadable_entries",
)
UNREADABLE = "envision/search/unreadable_*s"  # hits, rows, ...: whatever a page object could not read
EXPECTED_KEYS = ("envision/search/total", "envision/listing/total")


@dataclass(frozen=True)
class Figures:
    expected: int | None  # None until a search reports a total
    queries_reported: int
    query_groups: int | None
    handled: int
    archives: int
    waiting: int  # requests in downloader slot queues (waiting on delay / concurrency)
    scheduled: int  # requests in the scheduler, not yet given to the downloader
    elapsed: float
    bytes_planned: int = 0
    bytes_done: int = 0
    bytes_rate: float | None = None  # bytes/s over the last interval

    @property
    def eta(self) -> float | None:
        """Seconds left for the hits, at the average rate so far (None: unknown)."""
        if not self.expected or self.handled <= 0 or self.elapsed <= 0:
            return None
        return max(self.expected - self.handled, 0) / (self.handled / self.elapsed)

    @property
    def bytes_eta(self) -> float | None:
        left = self.bytes_planned - self.bytes_done
        if left <= 0:
            return 0.0 if self.bytes_planned else None
        return left / self.bytes_rate if self.bytes_rate else None


def _int(stats: Mapping[str, Any], key: str) -> int:
    value = stats.get(key)
    return int(value) if isinstance(value, (int, float)) else 0


def figures(
    stats: Mapping[str, Any],
    elapsed: float,
    waiting: int = 0,
    scheduled: int = 0,
    bytes_rate: float | None = None,
) -> Figures:
    """The figures of a crawl from its stats, ``elapsed`` seconds after it opened."""
    reported = any(key in stats for key in EXPECTED_KEYS)
    handled = sum(_int(stats, key) for key in HANDLED_KEYS)
    handled += sum(_int(stats, key) for key in stats if fnmatchcase(key, UNREADABLE))
    groups = stats.get("envision/search/query_groups")
    return Figures(
        expected=sum(_int(stats, key) for key in EXPECTED_KEYS) if reported else None,
        queries_reported=_int(stats, "envision/search/queries_reported") + _int(stats, "envision/listing/reported"),
        query_groups=int(groups) if isinstance(groups, int) else None,
        handled=handled,
        archives=_int(stats, "envision/inspect/archives"),
        waiting=waiting,
        scheduled=scheduled,
        elapsed=elapsed,
        bytes_planned=_int(stats, "envision/download/bytes_planned"),
        bytes_done=bytes_done(stats),
        bytes_rate=bytes_rate,
    )


def bytes_done(stats: Mapping[str, Any]) -> int:
    """File bytes fetched or kept from an earlier run (gated downloads)."""
    return _int(stats, "envision/download/bytes_received") + _int(stats, "envision/download/resumed_bytes")


def duration(seconds: float | None) -> str:
    """``95`` -> ``1m35s``; None -> ``?``."""
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover


def line(f: Figures) -> str:
    """One line: hits reported, processed / expected, archives, waiting requests, ETA, bytes."""
    parts = []
    downloads = bool(f.bytes_planned or f.bytes_done)
    if f.expected is None:
        if not downloads:  # `scrapy download` has no search: its line is about files
            parts.append("hits: not reported yet")
    else:
        groups = f" in {f.query_groups} query groups" if f.query_groups else ""
        parts.append(f"hits {f.expected:,} reported by {f.queries_reported} queries{groups}")
    parts.append(f"processed {f.handled:,}/{f.expected:,}" if f.expected is not None else f"processed {f.handled:,}")
    parts.append(f"archives {f.archives:,}")
    parts.append(f"waiting on politeness {f.waiting:,} (+{f.scheduled:,} scheduled)")
    if downloads:
        rate = f"{f.bytes_rate / 1e6:.1f} MB/s" if f.bytes_rate is not None else "? MB/s"
        parts.append(f"files {size(f.bytes_done)}/{size(f.bytes_planned)}, {rate}, ETA {duration(f.bytes_eta)}")
    if f.expected is not None or not downloads:
        parts.append(f"ETA {duration(f.eta)}")
    return "; ".join(parts)


_LOGGED = re.compile(r"Progress( \(final\))?: (.+)$", re.MULTILINE)
_PROCESSED = re.compile(r"(?:^|; )processed ([\d,]+)(?:/([\d,]+))?")
_ETA = re.compile(r"ETA (\S+)$")


def parse_logged(log: str) -> dict[str, Any] | None:
    """The last progress line in a crawl's log (as ``CrawlProgress`` words it, see ``line``):
    ``{"line", "final", "processed", "expected", "eta"}``; None when the log has none yet.
    ``eta`` is the hits' ETA as written (``6m40s``, ``?``), the line's last part."""
    matches = list(_LOGGED.finditer(log))
    if not matches:
        return None
    found = matches[-1]
    text = found.group(2).strip()
    processed = _PROCESSED.search(text)
    eta = _ETA.search(text)
    return {
        "line": text,
        "final": found.group(1) is not None,
        "processed": int(processed.group(1).replace(",", "")) if processed else None,
        "expected": int(processed.group(2).replace(",", "")) if processed and processed.group(2) else None,
        "eta": eta.group(1).rstrip(";") if eta else None,
    }
