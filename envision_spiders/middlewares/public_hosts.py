"""The network fence: every request the crawler makes goes to an http(s) URL on a public address.

URLs that come from the data (file lists, JSON-LD ``contentUrl``, ``links.next``, redirects)
are requests like any other, so the rule applies to *all* requests — nothing has to be marked
to be checked. A request is refused (``RequestRefused``, an ``IgnoreRequest``) when

- its scheme is not http/https (``file:``, ``data:``, ``ftp:``, ``s3:``): reason ``scheme``
  (the empty ``data:,``, which carries nothing, is let through: spiders' idle callbacks);
- its host is, or resolves to, a loopback, private, link-local, multicast, reserved or
  unspecified address: the reason is that class (``envision_spiders.http.fence``);
- its host does not resolve: reason ``dns`` (the connection would resolve it again, maybe
  differently).

The host is resolved with the crawler's own resolver (Scrapy's DNS cache), so the address
checked is the address the connection then uses. Redirects are new requests: they pass here
again, hop by hop. Hosts of the configured API roots (settings ending in ``_API_URL``) are
trusted for their address (a lab may mirror an API on a private host); their scheme is still
checked. ``ENVISION_FENCE_ALLOW`` lets listed hosts/networks through (the test suite's local
fakes); ``ENVISION_FENCE_ENABLED = False`` turns the fence off.

Every refusal is logged and counted as ``envision/fence/refused/<reason>``; callers see the
reason in the exception's message (inspection reports and download manifests record it).

The same component warns loudly at start when ``DOWNLOAD_VERIFY_CERTIFICATES`` is off.
"""

from __future__ import annotations

import logging

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached

from envision_spiders.http.fence import (
    EMPTY_DATA_URL,
    HostAllowance,
    address_problem,
    is_address,
    origin,
    scheme_problem,
)

logger = logging.getLogger(__name__)

TRUSTED_URL_SUFFIX = "_API_URL"


class RequestRefused(IgnoreRequest):
    """A request the network fence did not let out; ``reason`` is the stats key's last part."""

    def __init__(self, reason: str, url: str, detail: str = "") -> None:
        self.reason = reason
        self.url = url
        super().__init__(f"refused by the network fence ({reason}{': ' + detail if detail else ''}): {url[:200]}")


def warn_if_unverified(crawler: Crawler) -> None:
    """The loud start-up warning for ``DOWNLOAD_VERIFY_CERTIFICATES = False``."""
    if not crawler.settings.getbool("DOWNLOAD_VERIFY_CERTIFICATES"):
        logger.warning(
            "DOWNLOAD_VERIFY_CERTIFICATES is False: TLS certificates are NOT verified, so API tokens, "
            "the Dryad client secret and the portal token can be read by anyone between this machine "
            "and the servers. Use this only behind a lab proxy you trust (better: trust its CA with "
            "SSL_CERT_FILE and keep verification on; docs/security.md)."
        )
        crawler.stats.set_value("envision/fence/tls_unverified", 1)


class PublicHostsMiddleware:
    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        warn_if_unverified(crawler)
        if not settings.getbool("ENVISION_FENCE_ENABLED"):
            raise NotConfigured("ENVISION_FENCE_ENABLED is False")
        self.crawler = crawler
        self.allowance = HostAllowance.parse(settings.getlist("ENVISION_FENCE_ALLOW"))
        self.trusted = {
            origin(value)
            for name, value in settings.items()
            if name.endswith(TRUSTED_URL_SUFFIX) and isinstance(value, str) and value.startswith(("http://", "https://"))
        }
        self._verdicts: dict[str, tuple[str, str] | None] = {}  # host -> (reason, address) or None
        # (scheme, netloc) let through: every check above depends on these alone, and a host's
        # verdict is kept for the crawl, so a URL of the same origin is let through at once
        # (a download of many files from one host asks the same question for each)
        self._passed: set[tuple[str, str]] = set()
        if self.allowance:
            logger.info("Network fence: private addresses allowed for %s (ENVISION_FENCE_ALLOW)",
                        sorted(self.allowance.names) + [str(n) for n in self.allowance.networks])

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PublicHostsMiddleware:
        return cls(crawler)

    async def process_request(self, request: Request) -> None:
        url = request.url
        parts = urlparse_cached(request)
        if (parts.scheme, parts.netloc) in self._passed:
            return None
        problem = scheme_problem(url)
        if problem:
            self._refuse(RequestRefused(problem, url, parts.scheme or "no scheme"))
        if url == EMPTY_DATA_URL:  # no bytes, no host: a spider's idle callback
            return None
        host = (parts.hostname or "").lower()
        if origin(url) in self.trusted or self.allowance.allows(host):
            self._passed.add((parts.scheme, parts.netloc))
            return None
        if host in self._verdicts:
            verdict = self._verdicts[host]
        else:
            verdict = await self._check_host(host)
            if verdict is None or verdict[0] != "dns":  # a failed lookup is tried again next time
                self._verdicts[host] = verdict
        if verdict is None:
            self._passed.add((parts.scheme, parts.netloc))
        else:
            reason, address = verdict
            self._refuse(RequestRefused(reason, url, address if address != host else ""))
        return None

    async def _check_host(self, host: str) -> tuple[str, str] | None:
        if is_address(host):
            address = host
        else:
            from twisted.internet import reactor

            try:
                address = await maybe_deferred_to_future(reactor.resolve(host))  # Scrapy's cached resolver
            except Exception as exc:  # noqa: BLE001  DNS lookup failed or timed out
                logger.debug("Network fence: %s did not resolve: %s", host, exc)
                return "dns", host
        problem = address_problem(address)
        if problem is None or self.allowance.allows(host, address):
            return None
        return problem, address

    def _refuse(self, exc: RequestRefused) -> None:
        self.crawler.stats.inc_value(f"envision/fence/refused/{exc.reason}")
        logger.warning("%s", exc)
        raise exc
