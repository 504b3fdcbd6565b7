"""The one backoff policy: how long to wait before retrying an answer that says "not now".

What enters: the attempt number (0 for the first retry) and the response, if any. What
leaves: a ``Backoff`` — the delay, or the reason to give up. The server's own figure wins
(``Retry-After`` as seconds or an HTTP date, else ``X-RateLimit-Reset`` / ``RateLimit-Reset``
as epoch seconds or seconds from now); without one, ``base_delay * 2**attempt`` with ±20 %
jitter. Bounded twice: at most ``times`` retries, and no wait above ``max_delay`` — a crawl
gives up instead of stalling on a long rate limit (``longer_wait="give_up"``), a service
client waits ``max_delay`` (``longer_wait="cap"``), because a restarting service is worth it.

Who calls it: ``middlewares.backoff.BackoffMiddleware`` (429/503 during crawls, policy from
the ENVISION_BACKOFF_* settings) and ``http.client.ClientSpider.fetch`` (``scrapy schedule``,
``scrapy post``). ``SharedPauses`` lets the processes of one ``scrapy download --processes N``
pause a host together, as one process would.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Literal, NamedTuple
from urllib.parse import quote

from scrapy.http import Response

from envision_spiders.jsoncodec import write_json_atomic

JITTER = (0.8, 1.2)


def retry_after_seconds(response: Response, now: float | None = None) -> float | None:
    """Seconds the server asks us to wait: ``Retry-After`` (delta or HTTP date) or ``X-RateLimit-Reset``."""
    now = time.time() if now is None else now
    value = response.headers.get(b"Retry-After")
    if value:
        text = value.decode("latin-1").strip()
        try:
            return max(0.0, float(text))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(text).timestamp() - now)
            except (TypeError, ValueError):
                pass
    # Zenodo sends X-RateLimit-Reset; Dryad the unprefixed RateLimit-Reset (both epoch seconds)
    reset = response.headers.get(b"X-RateLimit-Reset") or response.headers.get(b"RateLimit-Reset")
    if reset:
        try:
            reset_at = float(reset.decode("latin-1").strip())
        except ValueError:
            return None
        # epoch seconds (Zenodo) or seconds-from-now (some others)
        return max(0.0, reset_at - now) if reset_at > 1e9 else max(0.0, reset_at)
    return None


class Backoff(NamedTuple):
    delay: float  # seconds to wait before the next attempt
    give_up: str | None  # why there is no next attempt, or None


@dataclass(frozen=True)
class BackoffPolicy:
    times: int = 5  # retries after the first attempt
    base_delay: float = 1.0  # seconds, doubled per attempt (with jitter)
    max_delay: float = 60.0  # no wait is longer than this (see longer_wait)
    longer_wait: Literal["cap", "give_up"] = "cap"

    def __post_init__(self) -> None:
        if self.times < 0 or self.base_delay < 0 or self.max_delay < 0:
            raise ValueError(f"backoff figures must not be negative: {self}")
        if self.longer_wait not in ("cap", "give_up"):
            raise ValueError(f"longer_wait must be 'cap' or 'give_up', not {self.longer_wait!r}")

    @classmethod
    def from_settings(cls, settings: Any) -> BackoffPolicy:
        """A crawl's policy: ENVISION_BACKOFF_MAX_RETRIES / _BASE_DELAY / _MAX_DELAY; longer waits give up."""
        return cls(
            times=settings.getint("ENVISION_BACKOFF_MAX_RETRIES"),
            base_delay=settings.getfloat("ENVISION_BACKOFF_BASE_DELAY"),
            max_delay=settings.getfloat("ENVISION_BACKOFF_MAX_DELAY"),
            longer_wait="give_up",
        )

    def next(self, attempt: int, response: Response | None = None, now: float | None = None) -> Backoff:
        """The wait before retry number ``attempt + 1`` after ``response`` (None: no answer at all)."""
        if attempt >= self.times:
            return Backoff(0.0, "too many attempts")
        asked = retry_after_seconds(response, now) if response is not None else None
        delay = asked if asked is not None else self.base_delay * 2**attempt * random.uniform(*JITTER)
        if delay > self.max_delay:
            if self.longer_wait == "give_up":
                return Backoff(delay, f"server asks for {delay:.0f}s" if asked is not None else
                               f"the next wait ({delay:.0f}s) exceeds {self.max_delay:.0f}s")
            delay = self.max_delay
        return Backoff(delay, None)


class SharedPauses:
    """Pauses per host seen by every process of one ``scrapy download --processes N``: a file per
    host in a folder they share (ENVISION_BACKOFF_SHARED_DIR), holding the ``time.monotonic()``
    until which requests to that host wait (Linux's monotonic clock is one clock for every process
    of the machine). A pause is written as the later of the one found and the new one; two
    processes writing at once keep the last, each having paused itself anyway."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def _path(self, host: str) -> Path:
        return self.folder / f"pause-{quote(host, safe='')}.json"

    def until(self, host: str) -> float | None:
        try:
            value = json.loads(self._path(host).read_bytes())
        except (FileNotFoundError, ValueError):
            return None
        return float(value) if isinstance(value, int | float) else None

    def pause(self, host: str, until: float) -> None:
        write_json_atomic(self._path(host), max(until, self.until(host) or 0.0))
