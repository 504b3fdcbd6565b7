"""ClassifierPipeline: scores every item EYE_IMAGING / NEGATIVE with calibrated probabilities.

Items wait (at most ``CLASSIFIER_MAX_WAIT`` seconds) to be scored in batches of
``CLASSIFIER_BATCH_SIZE``; inference runs in a worker thread, one batch at a time, so the
reactor keeps crawling. The model loads once per process, lazily, in that thread, on the
first batch (``scrapy crawlall``'s crawlers share it: classifier/encoder.py).
``CLASSIFIER_ENABLED = False`` is the scrape-only mode: the pipeline is not configured.

A record the classifier could not score is stored unlabelled and *owed* a label: it is
noted in the state DB's ``unclassified`` table before it is stored, so the incremental crawl
does not take it for fresh; the next crawl (or ``scrapy classify``) scores it, and the note
goes once the labelled record has been stored (``item_scraped``). Never silently final.

Stats: ``envision/classify/items``, ``.../label/EYE_IMAGING``, ``.../label/NEGATIVE``,
``.../batches``, ``.../model_load_seconds``, ``.../errors``, ``.../unclassified``
(stored without a label, owed), ``.../owed_cleared`` (owed before, labelled now).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from itemadapter import ItemAdapter
from scrapy import signals
from scrapy.exceptions import NotConfigured
from twisted.internet import defer, threads

from envision_spiders.classifier.encoder import ClassifierConfigError
from envision_spiders.classifier.model import CLASSIFIED_FIELDS, ClassifierConfig, EyeImagingClassifier, resolve_head
from envision_spiders.state.db import Owner, state_for_crawler
from envision_spiders.state.runs import utc_now

logger = logging.getLogger(__name__)

STATS_PREFIX = "envision/classify"


class ClassifierPipeline:
    def __init__(self, crawler: Any) -> None:
        settings = crawler.settings
        if not settings.getbool("CLASSIFIER_ENABLED", True):
            raise NotConfigured("CLASSIFIER_ENABLED is False: scrape-only mode, records are not classified")
        self.crawler = crawler
        self.stats = crawler.stats
        self.batch_size = settings.getint("CLASSIFIER_BATCH_SIZE", 64)
        self.max_wait = settings.getfloat("CLASSIFIER_MAX_WAIT", 2.0)
        if self.batch_size <= 0:
            raise ClassifierConfigError(f"CLASSIFIER_BATCH_SIZE={self.batch_size}: expected a positive integer")
        if self.max_wait < 0:
            raise ClassifierConfigError(f"CLASSIFIER_MAX_WAIT={self.max_wait}: expected seconds >= 0")
        # validate paths now (cheap, no torch): a bad setting stops the crawl at start-up
        self.config = ClassifierConfig.from_settings(settings)
        resolve_head(self.config.head)
        self.classifier = self.build_classifier(self.config)
        self._pending: list[tuple[Any, defer.Deferred[Any]]] = []
        self._timer: Any = None
        self._lock = defer.DeferredLock()
        self._in_flight: set[defer.Deferred[Any]] = set()
        self._failed: str | None = None
        self._owed: set[Owner] | None = None  # records stored unlabelled earlier (read on first use)

    @classmethod
    def from_crawler(cls, crawler: Any) -> ClassifierPipeline:
        try:
            pipeline = cls(crawler)
        except ClassifierConfigError as exc:
            # one clear line naming the setting before Scrapy reports the failed start
            logger.error("classifier misconfigured, crawl not started: %s", exc)
            raise
        crawler.signals.connect(pipeline.item_scraped, signal=signals.item_scraped)
        return pipeline

    @property
    def _log_extra(self) -> dict[str, Any]:
        # attributes the line to this crawler (crawlall counts each crawler's errors on its own)
        return {"spider": getattr(self.crawler, "spider", None)}

    def _owners(self, items: list[Any]) -> list[Owner]:
        owners = []
        for item in items:
            adapter = ItemAdapter(item)
            if adapter.get("source") and adapter.get("source_id") is not None:
                owners.append((str(adapter["source"]), str(adapter["source_id"])))
        return owners

    def _mark_owed(self, items: list[Any], reason: str) -> None:
        """Before these unscored items reach the store: their stored copy is not final."""
        owners = self._owners(items)
        if not owners:
            return
        state_for_crawler(self.crawler).mark_unclassified(owners, reason[:500], utc_now().isoformat())
        if self._owed is not None:
            self._owed.update(owners)
        self.stats.inc_value(f"{STATS_PREFIX}/unclassified", len(owners))

    def item_scraped(self, item: Any) -> None:
        """A labelled record is stored now: it no longer owes a label."""
        if ItemAdapter(item).get("label") is None:
            return
        owners = self._owners([item])
        if not owners:
            return
        state = state_for_crawler(self.crawler)
        if self._owed is None:
            self._owed = state.unclassified()
        if owners[0] in self._owed:
            state.clear_unclassified(owners)
            self._owed.discard(owners[0])
            self.stats.inc_value(f"{STATS_PREFIX}/owed_cleared")

    def build_classifier(self, config: ClassifierConfig) -> EyeImagingClassifier:
        """Overridable: the object whose ``predict(records)`` scores a batch."""
        return EyeImagingClassifier(config)

    async def process_item(self, item: Any) -> Any:
        from scrapy.utils.defer import maybe_deferred_to_future

        if self._failed:
            self._mark_owed([item], self._failed)
            return item
        done: defer.Deferred[Any] = defer.Deferred()
        self._pending.append((item, done))
        if len(self._pending) >= self.batch_size:
            self._flush()
        elif self._timer is None:
            from twisted.internet import reactor

            self._timer = reactor.callLater(self.max_wait, self._flush)
        await maybe_deferred_to_future(done)
        return item

    def _flush(self) -> defer.Deferred[Any] | None:
        if self._timer is not None:
            if self._timer.active():
                self._timer.cancel()
            self._timer = None
        if not self._pending:
            return None
        batch, self._pending = self._pending, []
        d = self._lock.run(self._score, batch)
        self._in_flight.add(d)
        d.addBoth(self._forget, d)
        return d

    def _forget(self, result: Any, d: defer.Deferred[Any]) -> Any:
        self._in_flight.discard(d)
        return result

    @defer.inlineCallbacks
    def _score(self, batch: list[tuple[Any, defer.Deferred[Any]]]) -> Any:
        records = [ItemAdapter(item).asdict() for item, _ in batch]
        try:
            if self._failed:
                raise RuntimeError(self._failed)
            predictions, load_seconds = yield threads.deferToThread(self._predict, records)
            if load_seconds is not None:
                self.stats.set_value(f"{STATS_PREFIX}/model_load_seconds", round(load_seconds, 2))
        except Exception as exc:  # the crawl goes on, unscored; counted and logged once per batch
            message = str(exc) if isinstance(exc, ClassifierConfigError) else f"{exc.__class__.__name__}: {exc}"
            if isinstance(exc, ClassifierConfigError) and not self._failed:
                self._failed = message
                logger.error("classifier disabled for this crawl: %s", message, extra=self._log_extra)
                self._close_crawl("classifier_error")
            else:
                logger.error("classifier failed on a batch of %d items (stored unlabelled, scored next "
                             "run): %s", len(batch), message, extra=self._log_extra)
            self.stats.inc_value(f"{STATS_PREFIX}/errors", len(batch))
            try:
                self._mark_owed([item for item, _ in batch], message)
            except Exception as owed_exc:  # not stored at all beats stored as if final
                for _, done in batch:
                    done.errback(owed_exc)
                return
            for _, done in batch:
                done.callback(None)
            return
        self.stats.inc_value(f"{STATS_PREFIX}/batches")
        for (item, done), result in zip(batch, predictions):
            adapter = ItemAdapter(item)
            for key in CLASSIFIED_FIELDS:
                try:
                    adapter[key] = result[key]
                except KeyError:
                    self.stats.inc_value(f"{STATS_PREFIX}/field_missing/{key}")
            self.stats.inc_value(f"{STATS_PREFIX}/items")
            self.stats.inc_value(f"{STATS_PREFIX}/label/{result['label']}")
            done.callback(None)

    def _predict(self, records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], float | None]:
        """Runs in the worker thread: loads the model the first time, then scores."""
        load_seconds = None
        if not getattr(self.classifier, "loaded", True):
            started = time.perf_counter()
            self.classifier.load()
            load_seconds = time.perf_counter() - started
            logger.info("classifier model loaded in %.1f s", load_seconds, extra=self._log_extra)
        return self.classifier.predict(records), load_seconds

    def _close_crawl(self, reason: str) -> None:
        engine = getattr(self.crawler, "engine", None)
        if engine is None:
            return
        from scrapy.utils.defer import deferred_from_coro

        deferred_from_coro(engine.close_spider_async(reason=reason))

    async def close_spider(self) -> None:
        from scrapy.utils.defer import maybe_deferred_to_future

        self._flush()
        while self._in_flight:
            await maybe_deferred_to_future(defer.DeferredList(list(self._in_flight)))
