"""scrapyd's JSON API for one command run, over ``http/client.py``: the node list, the calls,
and the survey of every node at once.

A node that does not answer (connection refused, timeout, not scrapyd's JSON after the
retries) is a ``Node`` with ``answering=False`` and the reason, never an exception: the
commands report it and go on with the others.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode, urlsplit

from scrapy.http import FormRequest, Request, Response
from scrapy.settings import BaseSettings

from envision_spiders.http.backoff import BackoffPolicy
from envision_spiders.http.client import ClientSpider, ServiceError
from envision_spiders.http.credentials import basic_auth_header, get_secret
from envision_spiders.http.ranges import range_request
from envision_spiders.nodes.placement import Placement

logger = logging.getLogger(__name__)

JOB_STATES = ("pending", "running", "finished")


def node_urls(values: str | Iterable[str] | None) -> list[str]:
    """Node URLs from ``SCRAPYD_URLS``-style values (comma or white-space separated strings, or a
    list of them): no trailing slash, each once, in the order given. ValueError for an entry
    that is not an http(s) URL."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    urls: list[str] = []
    for value in values:
        for url in re.split(r"[\s,]+", str(value).strip()):
            if not url:
                continue
            url = url.rstrip("/")
            if not url.startswith(("http://", "https://")) or not urlsplit(url).hostname:
                raise ValueError(f"scrapyd URL {url!r} is not an http(s) URL")
            if url not in urls:
                urls.append(url)
    return urls


def configured_nodes(settings: BaseSettings, override: Iterable[str] = ()) -> list[str]:
    """The nodes a command talks to: ``override`` (``--url``), else ``SCRAPYD_URLS``, else the
    one node ``SCRAPYD_URL``. ValueError when an entry is not an http(s) URL or none is given."""
    urls = node_urls(list(override)) or node_urls(settings.getlist("SCRAPYD_URLS"))
    urls = urls or node_urls(settings.get("SCRAPYD_URL"))
    if not urls:
        raise ValueError("no scrapyd node: set SCRAPYD_URLS or SCRAPYD_URL, or pass --url")
    return urls


def auth_headers() -> dict[str, str]:
    """Basic auth from SCRAPYD_USERNAME / SCRAPYD_PASSWORD (the same for every node)."""
    username, password = get_secret("SCRAPYD_USERNAME"), get_secret("SCRAPYD_PASSWORD")
    return {"Authorization": basic_auth_header(username, password or "")} if username else {}


def add_node_options(parser: Any) -> None:
    """The options every node command shares: which scrapyd nodes, which project."""
    parser.add_argument("--url", dest="urls", action="append", default=[], metavar="URL",
                        help="scrapyd node (repeatable, or comma-separated; default: setting SCRAPYD_URLS, "
                             "else SCRAPYD_URL)")
    parser.add_argument("--project", help="scrapyd project (default: setting SCRAPYD_PROJECT)")


class Refused(ServiceError):
    """The node answered and said no (scrapyd's ``"status": "error"``): nothing was queued."""


def scrapyd_json(response: Response, what: str) -> dict[str, Any]:
    try:
        data = json.loads(response.text)
    except (ValueError, AttributeError):
        raise ServiceError(f"{what}: HTTP {response.status}, not JSON: {response.body[:200]!r}") from None
    if not isinstance(data, dict):
        raise ServiceError(f"{what}: HTTP {response.status}, not scrapyd's JSON: {response.body[:200]!r}")
    if response.status == 200 and data.get("status") == "error":
        raise Refused(f"{what}: {data.get('message') or data}")
    if response.status != 200 or data.get("status") != "ok":
        raise ServiceError(f"{what}: HTTP {response.status}: {data.get('message') or data}")
    return data


@dataclass
class Node:
    """One node as it answered: daemonstatus counts (every project on the node) and the
    project's jobs from listjobs (``jobs["pending" | "running" | "finished"]``)."""

    url: str
    answering: bool = False
    error: str | None = None  # why it does not answer, or why it cannot take the project's jobs
    node_name: str | None = None
    pending: int = 0
    running: int = 0
    finished: int = 0
    jobs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def usable(self) -> bool:
        """Answers and has the project deployed: jobs can go there."""
        return self.answering and self.error is None

    @property
    def load(self) -> int:
        return self.pending + self.running

    def active_spiders(self) -> set[str]:
        return {job["spider"] for state in ("pending", "running") for job in self.jobs.get(state, [])}


class Scrapyd:
    """The calls of one command run to its nodes: one project, one set of credentials, one
    retry policy and timeout (``SCRAPYD_RETRY_TIMES``, ``SCRAPYD_TIMEOUT``)."""

    def __init__(self, client: ClientSpider, project: str, policy: BackoffPolicy, timeout: float,
                 headers: Mapping[str, str] | None = None) -> None:
        self.client = client
        self.project = project
        self.policy = policy
        self.timeout = timeout
        self.headers = dict(headers or {})

    @classmethod
    def from_settings(cls, client: ClientSpider, settings: BaseSettings, project: str) -> Scrapyd:
        policy = BackoffPolicy(times=settings.getint("SCRAPYD_RETRY_TIMES"), base_delay=1.0, max_delay=30.0)
        return cls(client, project, policy, settings.getfloat("SCRAPYD_TIMEOUT"), auth_headers())

    async def _fetch(self, request: Request, what: str) -> Response:
        request.meta["download_timeout"] = self.timeout
        return await self.client.fetch(request, self.policy, what)

    async def get(self, node: str, endpoint: str, project: bool = True) -> dict[str, Any]:
        query = f"?{urlencode({'project': self.project})}" if project else ""
        request = Request(f"{node}/{endpoint}{query}", headers=self.headers)
        return scrapyd_json(await self._fetch(request, f"GET {node}/{endpoint}"), f"{node}/{endpoint}")

    async def schedule(self, node: str, spider: str, form: list[tuple[str, str]]) -> str:
        """Post one job; its id. Never re-sent: a post whose answer was lost may have queued the
        job (see ``active_job``). ``Refused`` when the node said no."""
        fields = [("project", self.project), ("spider", spider), *form]
        request = FormRequest(f"{node}/schedule.json", formdata=fields, headers=self.headers)
        request.meta["download_timeout"] = self.timeout
        what = f"schedule {spider} on {node}"
        response = await self.client.fetch(request, replace(self.policy, times=0), what)
        return str(scrapyd_json(response, what)["jobid"])

    async def active_job(self, node: str, spider: str) -> str | None:
        """The id of a pending or running job of ``spider`` on ``node``, or None (ServiceError
        when the node does not answer)."""
        listing = await self.get(node, "listjobs.json")
        for state in ("pending", "running"):
            for job in listing.get(state) or []:
                if job.get("spider") == spider:
                    return str(job["id"])
        return None

    async def spiders(self, nodes: Iterable[Node]) -> list[str]:
        """The project's spiders, from the first usable node (every node runs the same egg)."""
        for node in nodes:
            if node.usable:
                return list((await self.get(node.url, "listspiders.json"))["spiders"])
        raise ServiceError(f"no node that answers has project {self.project!r} deployed")

    async def place(self, placement: Placement, spider: str, form: list[tuple[str, str]]) -> dict[str, str]:
        """Post ``spider``'s job to the least busy node of ``placement``: ``{"node", "jobid"}``,
        or ``{"error"}``. A node whose post fails takes no more jobs in this run. A refusal
        sends the spider to the next node; a lost answer first asks the node's listjobs, since the
        post may have queued the job: its job is kept, no job means the next node, no answer
        means not placed at all (rather than twice)."""
        error = "no node left to take it"
        while placement:
            node = placement.next()
            try:
                job = await self.schedule(node, spider, form)
            except Refused as exc:
                placement.drop(node)
                error = str(exc)
                logger.error("%s: no more jobs go to %s in this run", exc, node)
                continue
            except ServiceError as exc:
                placement.drop(node)
                try:
                    queued = await self.active_job(node, spider)
                except ServiceError:
                    error = f"{exc}; whether {node} queued the job is unknown: not placed elsewhere"
                    logger.error("%s", error)
                    return {"error": error}
                if queued is None:
                    error = str(exc)
                    logger.error("%s: no more jobs go to %s in this run", exc, node)
                    continue
                logger.warning("%s, but %s queued job %s: no more jobs go there in this run", exc, node, queued)
                return {"node": node, "jobid": queued}
            placement.placed(node)
            return {"node": node, "jobid": job}
        return {"error": error}

    async def survey_one(self, url: str) -> Node:
        node = Node(url)
        try:
            status = await self.get(url, "daemonstatus.json", project=False)
        except ServiceError as exc:
            node.error = str(exc)
            return node
        node.answering = True
        node.node_name = status.get("node_name")
        node.pending, node.running, node.finished = (int(status.get(k) or 0) for k in JOB_STATES)
        try:
            listing = await self.get(url, "listjobs.json")
        except ServiceError as exc:  # e.g. "project 'envision_spiders' not found": not deployed there
            node.error = str(exc)
            return node
        node.jobs = {state: list(listing.get(state) or []) for state in JOB_STATES}
        return node

    async def survey(self, urls: Iterable[str]) -> list[Node]:
        """Every node at once, in the order given."""
        return list(await asyncio.gather(*(self.survey_one(url) for url in urls)))

    async def log_tail(self, node: str, log_url: str | None, size: int) -> str | None:
        """The last ``size`` bytes of a job's log (scrapyd's ``logs/`` endpoint), or None."""
        if not log_url or not log_url.startswith("/") or size <= 0:
            return None  # only a path on the node itself: the answer never picks the host
        url = f"{node}{log_url}"
        try:
            # the length first: Twisted's file server (scrapyd's logs/) fails a suffix range
            # (bytes=-N) longer than the file with a 500
            head = await self._fetch(Request(url, method="HEAD", headers=self.headers), f"HEAD {url}")
            length = int(head.headers.get("Content-Length") or 0)
            if length > size:
                # the project's one Range path; a node ignoring Range may send the whole log
                request = range_request(url, [(length - size, length)], accept_whole=length, headers=self.headers)
            else:
                request = Request(url, headers={**self.headers, "Accept-Encoding": "identity"})
            response = await self._fetch(request, f"GET {url}")
        except (ServiceError, ValueError) as exc:
            logger.warning("No progress for %s: %s", url, exc)
            return None
        if response.status not in (200, 206):
            logger.warning("No progress for %s: HTTP %s", url, response.status)
            return None
        return response.body[-size:].decode("utf-8", "replace")
