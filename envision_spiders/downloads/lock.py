"""One writer per record folder: an exclusive, non-blocking OS lock on the folder itself.

What enters: a record's download folder (``{FILES_STORE}/{source}/{source_id}``). What leaves:
a held :class:`FolderLock`, or :class:`FolderBusy` when another download holds it (in this
process or another one: two crawls, a crawl and ``scrapy download``). Who calls it:
GatedFilesPipeline, which holds the lock for the whole of a record's download, from reading the
previous manifest to writing the final one.

The lock is ``flock(LOCK_EX | LOCK_NB)`` on a descriptor of the folder (no lock file to reserve
or clean up). The kernel releases it when the descriptor is closed or the process ends, also on
SIGKILL, so a crashed download never leaves a stale lock: the next run resumes from the
``.part`` files. ``flock`` (not ``fcntl``/``lockf`` record locks) on purpose: it belongs to this
one open file description, so another descriptor of the same folder opened and closed
elsewhere in the process does not drop it, and a second acquire in the same process conflicts
like one from another process. POSIX only; on NFS, Linux emulates ``flock`` with byte-range
locks, which need a descriptor open for writing: there the acquire fails with an ``OSError``.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class FolderBusy(Exception):
    """Another download holds the folder's lock."""


class FolderLock:
    """An exclusive lock on one folder, held until :meth:`release` (idempotent) or process exit."""

    def __init__(self, folder: Path, fd: int) -> None:
        self.folder = folder
        self._fd = fd

    @classmethod
    def acquire(cls, folder: Path) -> FolderLock:
        """Create ``folder`` if needed and lock it without waiting.

        Raises :class:`FolderBusy` when it is locked already, ``OSError`` when it cannot be
        created, opened or locked at all.
        """
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise FolderBusy(f"another download (this process or another one) holds the lock on {folder}") from None
        except BaseException:
            os.close(fd)
            raise
        return cls(folder, fd)

    @property
    def held(self) -> bool:
        return self._fd >= 0

    def release(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)  # closing the only descriptor of this open file description unlocks it
