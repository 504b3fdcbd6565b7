"""The record folder lock (downloads/lock.py): exclusive across processes and within one,
never waiting, released by ``release()`` and by the kernel when the holder dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from envision_spiders.downloads.lock import FolderBusy, FolderLock
from tests.conftest import PROJECT_ROOT, scrapy_env

HOLDER = """
import sys
from pathlib import Path
from envision_spiders.downloads.lock import FolderLock
lock = FolderLock.acquire(Path(sys.argv[1]))
print("held", flush=True)
sys.stdin.read()  # hold until the test closes stdin (or kills us)
lock.release()
print("released", flush=True)
"""


def hold_in_child(folder: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], cwd=PROJECT_ROOT, env=scrapy_env(),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "held\n"
    return proc


def test_lock_creates_the_folder_and_a_second_acquire_in_the_same_process_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "downloads" / "zenodo" / "1"
    lock = FolderLock.acquire(folder)
    assert folder.is_dir() and lock.held
    with pytest.raises(FolderBusy, match="holds the lock on"):
        FolderLock.acquire(folder)
    lock.release()
    lock.release()  # idempotent
    assert not lock.held
    FolderLock.acquire(folder).release()
    assert list(folder.iterdir()) == []  # no lock file left behind


def test_lock_held_by_another_process_is_refused_until_it_releases(tmp_path: Path) -> None:
    folder = tmp_path / "rec"
    child = hold_in_child(folder)
    try:
        with pytest.raises(FolderBusy):
            FolderLock.acquire(folder)
        assert child.stdin is not None and child.stdout is not None
        child.stdin.close()
        assert child.stdout.readline() == "released\n"
    finally:
        child.kill()
        child.wait(timeout=30)
    FolderLock.acquire(folder).release()


def test_lock_of_a_killed_holder_is_free_at_once(tmp_path: Path) -> None:
    """SIGKILL leaves no stale lock: the next download resumes instead of skipping forever."""
    folder = tmp_path / "rec"
    child = hold_in_child(folder)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    FolderLock.acquire(folder).release()


def test_unrelated_descriptor_of_the_folder_closing_keeps_the_lock(tmp_path: Path) -> None:
    """flock, not fcntl record locks: closing another descriptor of the folder in this process
    (``os.scandir``, another component) does not drop the lock."""
    folder = tmp_path / "rec"
    lock = FolderLock.acquire(folder)
    try:
        with os.scandir(folder):
            pass
        child = subprocess.run(
            [sys.executable, "-c", "import sys; from pathlib import Path\n"
             "from envision_spiders.downloads.lock import FolderBusy, FolderLock\n"
             "try:\n    FolderLock.acquire(Path(sys.argv[1]))\nexcept FolderBusy:\n    sys.exit(3)\n",
             str(folder)],
            cwd=PROJECT_ROOT, env=scrapy_env(), timeout=60,
        )
        assert child.returncode == 3
    finally:
        lock.release()


def test_a_record_lock_needs_the_folder_and_the_lease_and_knows_when_the_lease_is_lost(tmp_path: Path) -> None:
    from envision_spiders.downloads.lock import RecordLock
    from envision_spiders.state.db import open_state
    from envision_spiders.state.leases import LeaseKeeper

    state = open_state("", tmp_path)
    here, there = LeaseKeeper(state, "node-a:1", 60), LeaseKeeper(state, "node-b:2", 60)
    try:
        assert there.take("download", "zenodo:2")
        with pytest.raises(FolderBusy, match="download lease on zenodo:2"):
            RecordLock.acquire(tmp_path / "2", here, "zenodo:2")
        FolderLock.acquire(tmp_path / "2").release()  # the folder lock was given back

        lock = RecordLock.acquire(tmp_path / "1", here, "zenodo:1")
        assert lock.held
        state.take_lease("download", "zenodo:1", "node-a:1", 0)  # expires ...
        assert there.take("download", "zenodo:1")  # ... and another node takes it over
        here.renew()
        assert not lock.held
        lock.release()  # releases the folder, leaves the other node's lease alone
        assert [(r["key"], r["holder"]) for r in state.leases()] == [("zenodo:1", "node-b:2"), ("zenodo:2", "node-b:2")]
        FolderLock.acquire(tmp_path / "1").release()
    finally:
        here.release_all()
        there.release_all()
        state.close()
