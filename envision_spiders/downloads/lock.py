"""One writer per record: an exclusive, non-blocking OS lock on its folder, and a lease across nodes.

What enters: a record's download folder (``{FILES_STORE}/{source}/{source_id}``) and its lease
key (``source:source_id``). What leaves: a held :class:`RecordLock` (the folder's
:class:`FolderLock` plus the record's ``download`` lease in the shared state), or
:class:`FolderBusy` when another download holds either (in this process or another one: two
crawls, a crawl and ``scrapy download``, or another node sharing the state). Who calls it:
GatedFilesPipeline, which holds the lock for the whole of a record's download, from reading the
previous manifest to writing the final one.

The lease is what keeps two nodes off one record (state/leases.py: renewed while the download
runs, taken over when it expires or when its holder is a dead process on this host, so a
SIGKILLed local download resumes at once, as the flock allows). The flock stays: it costs
nothing and guards the folder on this machine, also between two crawls of one process.

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
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from envision_spiders.state.leases import LeaseKeeper


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


class RecordLock:
    """A record's download, held alone: the folder's flock guards it on this machine, the
    ``download`` lease (state/leases.py) on every node sharing the state. Released together."""

    KIND = "download"

    def __init__(self, folder_lock: FolderLock, leases: LeaseKeeper, key: str) -> None:
        self.folder_lock = folder_lock
        self.leases = leases
        self.key = key

    @classmethod
    def acquire(cls, folder: Path, leases: LeaseKeeper, key: str) -> RecordLock:
        """The folder's lock, then the record's lease. Raises :class:`FolderBusy` when either is
        held elsewhere (the folder lock is given back when the lease is not ours)."""
        folder_lock = FolderLock.acquire(folder)
        try:
            taken = leases.take(cls.KIND, key)
        except BaseException:
            folder_lock.release()
            raise
        if not taken:
            folder_lock.release()
            raise FolderBusy(f"another node or process holds the download lease on {key}")
        return cls(folder_lock, leases, key)

    @property
    def held(self) -> bool:
        return self.folder_lock.held and not self.leases.lost(self.KIND, self.key)

    def release(self) -> None:
        if self.folder_lock.held:
            self.leases.release(self.KIND, self.key)
            self.folder_lock.release()
