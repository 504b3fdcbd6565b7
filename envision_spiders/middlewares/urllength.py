"""Scrapy's URL length limit, made loud: a request dropped for length is an ERROR.

Scrapy's ``UrlLengthMiddleware`` drops any request whose URL is longer than
``URLLENGTH_LIMIT`` with an INFO line: for a search request that is a whole group of terms
lost without a word in a WARNING-level log. This subclass keeps the limit (and Scrapy's
``urllength/request_ignored_count``) but logs each drop as an error and counts it as
``envision/requests/url_too_long``. Spiders pack their terms by final URL length
(``envision_spiders.queries.group_terms``), so a drop here means a single term or an
``-a query`` that cannot fit.
"""

from __future__ import annotations

import logging

from scrapy.http import Request, Response
from scrapy.spidermiddlewares.urllength import UrlLengthMiddleware

logger = logging.getLogger(__name__)


class LoudUrlLengthMiddleware(UrlLengthMiddleware):
    def get_processed_request(self, request: Request, response: Response | None) -> Request | None:
        if len(request.url) <= self.maxlength:
            return request
        self.crawler.stats.inc_value("urllength/request_ignored_count")
        self.crawler.stats.inc_value("envision/requests/url_too_long")
        logger.error("Request dropped: its URL is %d characters, over URLLENGTH_LIMIT %d: %.200s...",
                     len(request.url), self.maxlength, request.url, extra={"spider": self.crawler.spider})
        return None
