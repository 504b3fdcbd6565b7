"""How a dropped item is logged: one line naming the record and the reason, never the item.

Scrapy's ``LogFormatter.dropped`` prints the whole item after the reason: a duplicate with a
long description and a few hundred file entries filled pages of the log. Here the line is
``Dropped <source>:<source_id>: <reason>`` (the reason alone when it names the record
already, as dedup's ``duplicate DOI …: <record> is a copy of <winner>`` does). The level stays
the DropItem's ``log_level`` (or ``DEFAULT_DROPITEM_LOG_LEVEL``). Set as ``LOG_FORMATTER``.

Scrapy's per-item ``Scraped from …`` line is DEBUG: when no log handler would show a DEBUG
line (``LOG_LEVEL`` INFO, the default, and no other handler), it is not made at all, since
building a log record per item cost ~2 % of a crawl's CPU even though nothing was written.
"""

from __future__ import annotations

import logging
from typing import Any

from itemadapter import ItemAdapter, is_item
from scrapy import Spider
from scrapy.http import Response
from scrapy.logformatter import LogFormatter, LogFormatterResult
from twisted.python.failure import Failure


def record_label(item: Any) -> str:
    """``source:source_id`` of an item, or its type name when it has neither."""
    if is_item(item):
        adapter = ItemAdapter(item)
        if adapter.get("source") and adapter.get("source_id") is not None:
            return f"{adapter['source']}:{adapter['source_id']}"
    return type(item).__name__


def shows_debug(logger: logging.Logger) -> bool:
    """Whether a DEBUG record of ``logger`` would reach a handler that emits it (the levels of
    the loggers and of the handlers on its way to the root)."""
    if not logger.isEnabledFor(logging.DEBUG):
        return False
    current: logging.Logger | None = logger
    while current is not None:
        if any(handler.level <= logging.DEBUG for handler in current.handlers):
            return True
        if not current.propagate:
            return False
        current = current.parent
    return logging.lastResort is not None and logging.lastResort.level <= logging.DEBUG


SCRAPER_LOGGER = logging.getLogger("scrapy.core.scraper")  # the logger Scrapy's item lines go to


class RecordLogFormatter(LogFormatter):
    def scraped(
        self, item: Any, response: Response | Failure | None, spider: Spider
    ) -> LogFormatterResult | None:
        if not shows_debug(SCRAPER_LOGGER):
            return None  # Scrapy's scraper logs nothing for None
        return super().scraped(item, response, spider)

    def dropped(
        self, item: Any, exception: BaseException, response: Response | Failure | None, spider: Spider
    ) -> LogFormatterResult:
        result = super().dropped(item, exception, response, spider)
        label, reason = record_label(item), str(exception)
        if label in reason:
            result["msg"], result["args"] = "Dropped: %(reason)s", {"reason": reason}
        else:
            result["msg"], result["args"] = "Dropped %(record)s: %(reason)s", {"record": label, "reason": reason}
        return result
