"""Group commit: the state writes of records that reach a pipeline together share one transaction.

What enters: one record's step from the dedup and store pipelines — a function that reads and
writes the state (and the record files that go with it, through ``RecordStore``) as it would in a
write transaction of its own. What leaves: the step's value, or its exception, once the
transaction that holds it has committed.

Scrapy hands a response's items to the pipelines together (up to ``CONCURRENT_ITEMS`` at once),
so a search page's records reach each pipeline in the same turn of the event loop. The steps
queued during a turn run at its end, in order, in one write transaction (``StateDB.immediate``),
each inside its own savepoint: a step that raises is undone alone and fails alone, as it did in a
transaction of its own. At most ``ENVISION_STATE_GROUP_COMMIT`` steps share a transaction (the
write lock other crawls wait for is held ~0.05 ms per step); 1 is a transaction per step.

The guarantees stay as they were: a record is acknowledged (its pipeline call returns, so it is
counted as stored, reaches the feeds and is never processed again) only after the commit that
holds its state — a SIGKILL before that loses the step as it lost an uncommitted transaction;
every decision (who owns a DOI, which file lands) is still made and written under the one write
lock, in arrival order, so no two processes store two canonical records of one dataset.
Why: on SQLite a write transaction costs ~20 µs of CPU for BEGIN IMMEDIATE and the commit's WAL
write, and the WAL checkpoints it triggers fsync on the reactor thread; two transactions a
record were about a third of the reactor's time in a crawl with ``ENVISION_STORE_FSYNC``.

With an object store (``ENVISION_STORE_URL=s3://…``) the record writes of a transaction are held
and sent together, concurrently, just before it commits (``RecordBackend.puts_together``): the
reactor waits about one PUT's latency a batch instead of one a record. When a held write is
refused the transaction is rolled back and its steps run again one transaction each, writing at
once, so the step whose write fails fails alone, as before.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, TypeVar

from envision_spiders.state.base import StateDB
from envision_spiders.state.db import state_for_crawler
from envision_spiders.state.store import PutsFailed, records_for_crawler

T = TypeVar("T")


class GroupCommit:
    """Runs the steps queued during one turn of the event loop in one state transaction."""

    def __init__(
        self, state: StateDB, max_steps: int = 200,
        puts_together: Callable[[], AbstractContextManager[Any]] = nullcontext,
        stats: Any = None, logger: Any = None,
    ) -> None:
        self.state = state
        self.max_steps = max(1, max_steps)
        self.puts_together = puts_together
        self.stats = stats
        self.logger = logger
        self._queue: list[tuple[Callable[[], Any], asyncio.Future[Any]]] = []
        self._flush_at_end_of_turn: asyncio.Handle | None = None

    async def run(self, step: Callable[[], T]) -> T:
        """``step()``'s value once the transaction it ran in has committed (its exception if it
        raised, or if the transaction could not begin or commit)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.append((step, future))
        if len(self._queue) >= self.max_steps:
            self.flush()
        elif self._flush_at_end_of_turn is None:
            self._flush_at_end_of_turn = loop.call_soon(self.flush)
        return await future

    def flush(self) -> None:
        """Run the queued steps now, in one transaction."""
        if self._flush_at_end_of_turn is not None:
            self._flush_at_end_of_turn.cancel()
            self._flush_at_end_of_turn = None
        batch, self._queue = self._queue, []
        batch = [(step, future) for step, future in batch if not future.cancelled()]
        if not batch:
            return
        outcomes: list[tuple[asyncio.Future[Any], BaseException | None, Any]] = []
        try:
            # the held writes are sent as the inner block ends, before the transaction commits
            with self.state.immediate(), self.puts_together():
                for step, future in batch:
                    try:
                        with self.state.savepoint():
                            outcomes.append((future, None, step()))
                    except Exception as exc:  # this step's changes are undone; the others stay
                        outcomes.append((future, exc, None))
        except PutsFailed as exc:  # rolled back: which step wrote the refused object is not known
            if self.stats is not None:
                self.stats.inc_value("envision/store/batch_writes_failed")
            if self.logger is not None:
                self.logger.warning("%s; the %d records of the batch are written one by one", exc, len(batch))
            self._one_by_one(batch)
            return
        except BaseException as exc:  # BEGIN or COMMIT failed: no step of the batch is in the state
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for future, error, value in outcomes:
            if future.done():  # its caller was cancelled meanwhile
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(value)

    def _one_by_one(self, batch: list[tuple[Callable[[], Any], asyncio.Future[Any]]]) -> None:
        """Each step in a transaction of its own, its writes sent at once (``max_steps`` 1)."""
        for step, future in batch:
            if future.done():
                continue
            try:
                with self.state.immediate():
                    value = step()
            except Exception as exc:
                future.set_exception(exc)
            else:
                future.set_result(value)


_by_crawler: weakref.WeakKeyDictionary[Any, GroupCommit] = weakref.WeakKeyDictionary()


def group_commit_for_crawler(crawler: Any) -> GroupCommit:
    """The crawl's one GroupCommit over its state (``state_for_crawler``), shared by the pipelines,
    so the dedup steps of one page and the store steps of another can share a transaction too."""
    commits = _by_crawler.get(crawler)
    if commits is None:
        spider = getattr(crawler, "spider", None)
        commits = GroupCommit(
            state_for_crawler(crawler), crawler.settings.getint("ENVISION_STATE_GROUP_COMMIT", 200),
            records_for_crawler(crawler).puts_together, crawler.stats, spider.logger if spider else None,
        )
        _by_crawler[crawler] = commits
    return commits
