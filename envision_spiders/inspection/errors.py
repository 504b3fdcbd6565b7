"""Errors raised by the byte-level readers."""

from __future__ import annotations


class ArchiveError(ValueError):
    """The bytes are not the archive structure they claim to be (bad magic, absurd sizes...)."""


class NeedMoreData(ArchiveError):
    """The structure continues past the bytes given; ``start``/``end`` say which bytes are needed.

    Offsets are absolute positions in the archive file.
    """

    def __init__(self, message: str, start: int, end: int) -> None:
        super().__init__(message)
        self.start = start
        self.end = end


class BudgetExceeded(ArchiveError):
    """A reader stopped because its time budget (a ``deadline`` on the monotonic clock) ran out.

    What was produced before it stays valid: the caller reports a partial result.
    """
