"""The base every repository spider stands on. Its docstring is the contract.

A concrete spider declares:

``name``
    Spider name = module name = the records' ``source``.
``api_url_setting``
    The setting holding the API root (e.g. ``"ZENODO_API_URL"``); read once into ``self.api_url``.
``token_variable`` / ``token_scheme`` (optional)
    Secret holding the API token and how it is sent (``Authorization: <scheme> <token>``,
    default ``Bearer``); read once into ``self.token`` (an ``ApiToken``, or None). Override
    the classmethod ``api_token(settings, api_url)`` for another shape (Kaggle: Basic).
OAuth2 client credentials (optional) are not declared here: they are the spider's entry of
    ``ENVISION_FILE_AUTH`` (``"client_credentials": [token path, client id variable, client
    secret variable]``), the one place gated downloads and inspection read them too. Without a
    token, one is fetched through Scrapy by ``await self.fetch_token()``.
``custom_settings``
    The source's politeness (``DOWNLOAD_DELAY``, concurrency) from its documented rate
    limits: ``politeness(delay, per_domain)``.
``file_rate_settings`` (optional)
    ``(anonymous, with_token)`` names of requests-per-hour settings for the source's file
    requests (archive inspection), when the repository documents a limit for them apart from
    its search limit: they get a downloader slot of their own (``http/slots.py``) with that
    rate, so they never wait behind the search requests' ``DOWNLOAD_DELAY``. Decided before
    the crawl starts; a ``DOWNLOAD_SLOTS`` entry given with ``-s`` for that slot wins, and a
    ``DOWNLOAD_DELAY`` given with ``-s`` caps its delay (``0``: delays off, for a local server).
``shared_rate`` (optional, default False)
    True when the repository documents one rate for *every* request (search, details, file
    downloads, on any of its hosts: Figshare, Kaggle). All of them then go to one downloader
    slot, ``shared_slot(name)`` (``http/slots.py``), at ``DOWNLOAD_DELAY`` and
    ``CONCURRENT_REQUESTS_PER_DOMAIN``: API requests built with ``self.api_request`` and the
    inspection's and gated downloads' file requests alike (``scrapy download`` builds the
    slot the same way: ``downloads/budgets.py``), so a file host does not get a second rate of
    its own.
``config_class`` (optional)
    A ``SpiderConfig`` (frozen dataclass of ``setting("NAME")`` fields): the spider's own
    settings, read and validated once into ``self.config`` by the classmethod hook
    ``configure(settings)`` (override it for settings that need more than a field).

and writes ``async def start(self)`` (which only yields requests) plus its callbacks:
pagination and which requests to make, nothing else. Records are built by page objects in
``envision_spiders.pages``. The paging bases (``paging.py``, ``links_paging.py``) and
``file_listing.py`` build those callbacks from declared page classes.

Spider arguments, validated before the crawl starts (a bad value is an error at once):

``-a query="..."``
    One search term instead of the shared list (all of its words are required).
``-a max_records=N``
    Stop asking for more once N records have been emitted.
``-a since=YYYY-MM-DD``
    Only records created or updated on/after that date (where the API can filter).

``preflight(settings, **arguments)`` (a classmethod) checks, before the engine starts, that
the spider can run: it parses the arguments and calls the same ``api_token`` and
``configure`` that ``from_crawler`` calls, so validation lives in one place. ``scrapy crawl``
calls it and turns a ``SpiderArgumentError`` into a one-line error and exit status 2.
Subclasses extend it only for checks that are not settings (portal: the browser).

Helpers: ``self.terms`` (the terms to search), ``self.query_groups(render, url_for=None)``
(the terms packed into as few groups as fit the config's ``query_max_length`` and, with
``url_for``, ``URLLENGTH_LIMIT`` for the longest URL a group can need; counted in
``envision/search/query_groups``), ``self.take(records)`` (applies
``max_records``), ``self.wants_more`` (False once the limit is reached),
``self.api_request(url, callback, data=None, **kwargs)`` (a request to the API: a JSON POST
when ``data`` is given; the token goes only to the API root's scheme, host and port, so a
link to another origin is followed without it), ``self.drop_token()`` (stop sending it),
``self.on_request_error`` (an errback handing a failure for good to the hook
``request_failed(request, failure)``: what to emit instead; default: log and count),
``self.skip_unreadable(response, problems)`` (log and count entries a page could not
read), ``self.retry_malformed(response, error)`` (re-fetch an API page that was not the JSON
expected, ``ENVISION_MALFORMED_RETRIES`` times, then give up with a logged error and a
counter — the crawl goes on).
A spider that emits records only once paging is done (NEI aggregates rows per project)
overrides ``deferred() -> int`` (entries collected, not yet emitted) and ``async
drain_deferred() -> list`` (their records): they are emitted when the crawl goes idle, and a
crawl closed earlier logs what it lost (``envision/spider/not_emitted``).
Incremental crawling (skip unchanged records) is done by ``IncrementalMiddleware``:
mark detail requests with ``meta["envision_record"]``.

Stats (``docs/stats.md``): ``envision/spider/max_records_reached``,
``envision/spider/not_emitted``, ``envision/search/unreadable_<what>s``,
``envision/pages/malformed``, ``envision/pages/malformed_given_up``,
``envision/pages/malformed_retry/...`` (Scrapy's retry keys), ``envision/requests/failed``,
``envision/auth/oauth_token``, ``envision/auth/oauth_failed``. Stats are per crawler: no key
carries the spider's name.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from datetime import date
from typing import Any, get_type_hints
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import scrapy
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.retry import get_retry_request
from scrapy.exceptions import DontCloseSpider
from scrapy.http import JsonRequest, Response
from scrapy.settings import SETTINGS_PRIORITIES, BaseSettings
from twisted.python.failure import Failure

from envision_spiders.http.credentials import ApiToken, api_token, client_credentials_token, get_secret
from envision_spiders.http.slots import SLOT_META, file_slot, shared_slot, slot_for_rate
from envision_spiders.queries import SEARCH_TERMS, group_terms
from envision_spiders.state.db import state_url_problem


class SpiderArgumentError(ValueError):
    pass


def setting(name: str, choices: tuple[Any, ...] = ()) -> Any:
    """A ``SpiderConfig`` field read from setting ``name``, by the field's type (and, with
    ``choices``, one of them)."""
    return dataclasses.field(metadata={"setting": name, "choices": choices})


_GETTERS: dict[Any, Callable[[BaseSettings, str], Any]] = {
    int: BaseSettings.getint,
    float: BaseSettings.getfloat,
    bool: BaseSettings.getbool,
    str: lambda settings, name: str(settings.get(name) or ""),
    tuple[str, ...]: lambda settings, name: tuple(settings.getlist(name)),
}


@dataclasses.dataclass(frozen=True)
class SpiderConfig:
    """A spider's own settings, read once: subclass it as a frozen dataclass whose fields are
    ``setting("NAME")`` (``int``, ``float``, ``bool``, ``str`` or ``tuple[str, ...]``); other
    checks go in ``__post_init__`` (raise ``SpiderArgumentError``)."""

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> Any:
        hints, values = get_type_hints(cls), {}
        for f in dataclasses.fields(cls):
            if "setting" not in f.metadata:
                continue
            name, choices = f.metadata["setting"], f.metadata["choices"]
            values[f.name] = _GETTERS[hints[f.name]](settings, name)
            if choices and values[f.name] not in choices:
                raise SpiderArgumentError(f"{name}={values[f.name]!r}: use {' or '.join(map(repr, choices))}")
        return cls(**values)


def page_callback(name: str, follow: str, page_class: type) -> Callable[..., AsyncIterator[Any]]:
    """A spider callback ``name(self, response, page: page_class)`` that hands both to
    ``self.<follow>``: scrapy-poet injects the page object by the annotation, so a base can
    build the callback from a spider's declared page class."""

    async def callback(self: Any, response: Response, page: Any) -> AsyncIterator[Any]:
        async for out in getattr(self, follow)(response, page):
            yield out

    callback.__annotations__ = {"response": Response, "page": page_class, "return": AsyncIterator[Any]}
    callback.__name__ = callback.__qualname__ = name
    return callback


def declare_callbacks(cls: type, *specs: tuple[str, str, str]) -> None:
    """For each ``(page attribute, callback name, follow method)``: when ``cls`` itself declares
    the page class, give it the callback (unless it writes its own)."""
    for attribute, name, follow in specs:
        if cls.__dict__.get(attribute) is not None and name not in cls.__dict__:
            setattr(cls, name, page_callback(name, follow, cls.__dict__[attribute]))


def politeness(delay: float = 0, per_domain: int = 1) -> dict[str, Any]:
    """``custom_settings`` for a documented rate: ``delay`` seconds between requests (not
    randomised: jitter would dip below the limit half the time), ``per_domain`` in flight."""
    preset: dict[str, Any] = {"DOWNLOAD_DELAY_JITTER": 0, "CONCURRENT_REQUESTS_PER_DOMAIN": per_domain}
    return {"DOWNLOAD_DELAY": delay, **preset} if delay else preset


def parse_since(value: str | None) -> date | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise SpiderArgumentError(f"since={value!r} is not a date in YYYY-MM-DD form") from None


def parse_max_records(value: Any) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise SpiderArgumentError(f"max_records={value!r} is not a whole number") from None
    if number < 1:
        raise SpiderArgumentError(f"max_records={value!r} must be at least 1")
    return number


def parse_query(value: Any) -> str | None:
    if value is not None and not str(value).strip():
        raise SpiderArgumentError("query is empty")
    return str(value).strip() if value else None


def with_query_param(url: str, name: str, value: str) -> str:
    """``url`` with query parameter ``name`` set to ``value`` (other parameters kept in order)."""
    parts = urlsplit(url)
    params = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != name]
    params.append((name, value))
    return urlunsplit(parts._replace(query=urlencode(params)))


def query_param(url: str | None, name: str) -> str | None:
    if not url:
        return None
    for key, value in parse_qsl(urlsplit(url).query, keep_blank_values=True):
        if key == name:
            return value
    return None


class EnvisionSpider(scrapy.Spider):
    api_url_setting: str = ""
    token_variable: str | None = None
    token_scheme: str = "Bearer"
    config_class: type[SpiderConfig] | None = None
    file_rate_settings: tuple[str, str] | None = None
    shared_rate: bool = False

    def __init__(
        self,
        *args: Any,
        query: str | None = None,
        max_records: Any = None,
        since: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.query = parse_query(query)
        self.max_records = parse_max_records(max_records)
        self.since = parse_since(since)
        self.records_emitted = 0
        self.api_url = ""
        self.token: ApiToken | None = None
        self.config: Any = None
        self.malformed_retries = 0

    # --- configuration, read and validated once -----------------------------------------------
    @classmethod
    def read_api_url(cls, settings: BaseSettings) -> str:
        if not cls.api_url_setting:
            return ""
        api_url = settings.get(cls.api_url_setting)
        if not api_url:
            raise SpiderArgumentError(f"setting {cls.api_url_setting} is empty")
        return str(api_url).rstrip("/")

    @classmethod
    def api_token(cls, settings: BaseSettings, api_url: str) -> ApiToken | None:
        """The token sent to the API (None: anonymous). Raise SpiderArgumentError when required and missing."""
        return api_token(api_url, cls.token_variable, cls.token_scheme)

    @classmethod
    def update_settings(cls, settings: BaseSettings) -> None:
        super().update_settings(settings)
        if cls.shared_rate:
            cls._add_slot(settings, shared_slot(cls.name), {
                "delay": settings.getfloat("DOWNLOAD_DELAY"), "jitter": settings.getfloat("DOWNLOAD_DELAY_JITTER"),
                "concurrency": settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN")})
        if not cls.file_rate_settings:
            return
        per_hour = settings.getfloat(cls.file_rate_settings[1 if cls.has_token(settings) else 0])
        if per_hour <= 0:
            return
        slot = slot_for_rate(per_hour)
        if (settings.getpriority("DOWNLOAD_DELAY") or 0) > SETTINGS_PRIORITIES["spider"]:
            # a delay given with -s is the user's (0: delays off, a local server): file requests
            # never wait longer than it either
            slot["delay"] = min(slot["delay"], settings.getfloat("DOWNLOAD_DELAY"))
        cls._add_slot(settings, file_slot(cls.name), slot)

    @staticmethod
    def _add_slot(settings: BaseSettings, name: str, slot: dict[str, Any]) -> None:
        """``DOWNLOAD_SLOTS[name] = slot`` unless ``DOWNLOAD_SLOTS`` given with ``-s`` has it."""
        slots = dict(settings.getdict("DOWNLOAD_SLOTS"))
        slots.setdefault(name, slot)
        # a -s DOWNLOAD_SLOTS (its entries won above) is merged, above its own priority: Scrapy's
        # runner applies its settings (the -s ones) to the crawler once more at their priority,
        # which at an equal one would drop the budget slot (two budgets for one API: 429s)
        given = settings.getpriority("DOWNLOAD_SLOTS") or 0
        priority = given + 1 if given >= SETTINGS_PRIORITIES["cmdline"] else SETTINGS_PRIORITIES["spider"]
        settings.set("DOWNLOAD_SLOTS", slots, priority=priority)

    @classmethod
    def client_credentials(cls, settings: BaseSettings) -> list[str] | None:
        """``[token path, client id variable, client secret variable]`` of an OAuth2 client-credentials
        token, from the spider's ``ENVISION_FILE_AUTH`` entry, or None."""
        spec = (settings.getdict("ENVISION_FILE_AUTH") or {}).get(cls.name) or {}
        creds = spec.get("client_credentials")
        return list(creds) if creds else None

    @classmethod
    def has_token(cls, settings: BaseSettings) -> bool:
        """Whether a token will be sent (from ``token_variable`` or the client credentials)."""
        creds = cls.client_credentials(settings)
        return bool(cls.token_variable and get_secret(cls.token_variable)) or bool(
            creds and get_secret(creds[1]) and get_secret(creds[2]))

    @classmethod
    def configure(cls, settings: BaseSettings) -> Any:
        """The spider's own settings, read and validated once (``self.config``): ``config_class``."""
        return cls.config_class.from_settings(settings) if cls.config_class else None

    @classmethod
    def preflight(cls, settings: BaseSettings, **arguments: Any) -> None:
        """Raise SpiderArgumentError when this spider cannot start with these arguments/settings."""
        parse_query(arguments.get("query"))
        parse_max_records(arguments.get("max_records"))
        parse_since(arguments.get("since"))
        cls.api_token(settings, cls.read_api_url(settings))
        cls.configure(settings)
        problem = state_url_problem(settings.get("ENVISION_STATE_URL"))
        if problem:
            raise SpiderArgumentError(problem)

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> EnvisionSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        settings = crawler.settings
        spider.api_url = cls.read_api_url(settings)
        spider.token = cls.api_token(settings, spider.api_url)
        spider.config = cls.configure(settings)
        spider.malformed_retries = settings.getint("ENVISION_MALFORMED_RETRIES")
        spider.url_limit = settings.getint("URLLENGTH_LIMIT")  # Scrapy drops longer requests
        crawler.signals.connect(spider._flush_deferred, signal=signals.spider_idle)
        crawler.signals.connect(spider._report_deferred, signal=signals.spider_closed)
        return spider

    # --- requests -----------------------------------------------------------------------------
    def auth_headers(self, url: str) -> dict[str, str]:
        """The token's header for ``url``: only for the API root's scheme, host and port."""
        return self.token.headers_for(url) if self.token else {}

    def drop_token(self) -> None:
        self.token = None

    async def fetch_token(self) -> None:
        """OAuth2 client credentials (:meth:`client_credentials`) -> ``self.token``, when no token is
        set (``credentials.client_credentials_token``: counted, and logged when refused)."""
        creds = self.client_credentials(self.settings)
        if self.token is not None or not creds:
            return
        self.token = await client_credentials_token(self.crawler, self.api_url, creds, self.logger)

    def api_request(self, url: str, callback: Any, data: Any = None, **kwargs: Any) -> scrapy.Request:
        """A request to the API (a JSON POST of ``data`` when given), with the token where it belongs
        (and, for a ``shared_rate`` source, in its shared slot)."""
        headers = {**self.auth_headers(url), **(kwargs.pop("headers", None) or {})}
        if self.shared_rate:
            kwargs["meta"] = {SLOT_META: shared_slot(self.name), **(kwargs.get("meta") or {})}
        if data is not None:
            return JsonRequest(url, data=data, callback=callback, headers=headers, **kwargs)
        return scrapy.Request(url, callback=callback, headers=headers, **kwargs)

    def on_request_error(self, failure: Failure) -> Any:
        """Errback of API requests that have a fallback: hands the failure to ``request_failed``."""
        return self.request_failed(failure.request, failure)  # type: ignore[attr-defined]

    def request_failed(self, request: scrapy.Request, failure: Failure) -> Iterable[Any]:
        """Hook: a request failed for good (after retries/backoff); returns what to emit instead
        (e.g. a record with the files read so far). Default: log and count it."""
        self.crawler.stats.inc_value("envision/requests/failed")
        self.logger.error("Request failed for good: %s (%s)", request.url, failure.getErrorMessage())
        return []

    # --- records emitted once the crawl is idle (spiders that aggregate what they page) ------
    def deferred(self) -> int:
        """Hook: how many collected entries wait to become records (default none)."""
        return 0

    async def drain_deferred(self) -> list[Any]:
        """Hook: the records of everything collected so far (which is then forgotten)."""
        return []

    def _flush_deferred(self) -> None:
        if self.deferred():
            self.crawler.engine.crawl(scrapy.Request("data:,", callback=self._emit_deferred, dont_filter=True))
            raise DontCloseSpider

    async def _emit_deferred(self, response: Response) -> Any:
        for record in self.take(await self.drain_deferred()):
            yield record

    def _report_deferred(self, reason: str) -> None:
        """A crawl closed before paging ended (CLOSESPIDER_*, Ctrl-C) loses what was collected: say so."""
        if self.deferred():
            self.crawler.stats.set_value("envision/spider/not_emitted", self.deferred())
            self.logger.error("Closed (%s) before paging ended: %d collected entries not emitted; run again",
                              reason, self.deferred())

    # --- limits and problems ------------------------------------------------------------------
    @property
    def terms(self) -> list[str]:
        return [self.query] if self.query else list(SEARCH_TERMS)

    def query_groups(self, render: Callable[[list[str]], str], url_for: Callable[[list[str]], str] | None = None,
                     terms: Iterable[str] | None = None) -> list[list[str]]:
        """``terms`` (default ``self.terms``) in as few groups as fit once rendered (``group_terms``)."""
        groups = group_terms(self.terms if terms is None else terms, render, self.config.query_max_length,
                             url_for, self.url_limit)
        self.crawler.stats.set_value("envision/search/query_groups", len(groups))
        return groups

    @property
    def wants_more(self) -> bool:
        return self.max_records is None or self.records_emitted < self.max_records

    def take(self, records: Iterable[Any]) -> Iterator[Any]:
        for record in records:
            if not self.wants_more:
                self.crawler.stats.inc_value("envision/spider/max_records_reached")
                return
            self.records_emitted += 1
            yield record

    def skip_unreadable(self, response: Response, problems: Iterable[str], what: str = "hit") -> None:
        """Log and count (``envision/search/unreadable_<what>s``) entries a page object could not read."""
        for problem in problems:
            self.crawler.stats.inc_value(f"envision/search/unreadable_{what}s")
            self.logger.warning("Skipping a %s of %s: %s", what, response.url, problem)

    def retry_malformed(self, response: Response, error: Exception) -> scrapy.Request | None:
        """A retry of a page that was not the JSON expected, or None (logged, counted) to give up."""
        self.crawler.stats.inc_value("envision/pages/malformed")
        retry = get_retry_request(
            response.request,
            spider=self,
            reason="malformed_page",
            max_retry_times=self.malformed_retries,
            stats_base_key="envision/pages/malformed_retry",
        )
        if retry is None:
            self.crawler.stats.inc_value("envision/pages/malformed_given_up")
            self.logger.error("Giving up on a malformed page: %s", error)
        else:
            self.logger.warning("Malformed page, fetching it again: %s", error)
        return retry
