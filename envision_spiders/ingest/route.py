"""Which source answers an input, and under which key: pure, no I/O.

``route(text, hosts)`` -> ``Target``:

* a DOI (``10.…``, ``doi:…``, ``https://doi.org/…``) minted by a repository we crawl, known
  by its prefix (``DOI_ROUTES``) -> that repository's record key; any other DOI -> ``datacite``
  (its DataCite metadata, ``kind="doi"``);
* a URL on a source's host (``PUBLIC_HOSTS`` plus the hosts of the configured API URLs) whose
  path is a record's (``PATH_ROUTES``) -> that source's record key (``kind="record"``);
* a GitHub repository URL -> ``kind="github"``, key ``owner/name``;
* any other http(s) URL -> ``kind="web"`` (a file or a page: the answer's headers decide).

Anything else raises ``InputError`` with a one-line reason.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import NamedTuple
from urllib.parse import unquote, urlsplit

from envision_spiders.doi import normalize_doi

# the sources a record URL or DOI can name, and the setting holding each one's API root
API_URL_SETTINGS: dict[str, str] = {
    "zenodo": "ZENODO_API_URL",
    "figshare": "FIGSHARE_API_URL",
    "dryad": "DRYAD_API_URL",
    "osf": "OSF_API_URL",
    "kaggle": "KAGGLE_API_URL",
    "nei": "NEI_API_URL",
    "datacite": "DATACITE_API_URL",
    "github": "GITHUB_API_URL",
}

# public hosts of each source's landing pages and API (a leading "." matches subdomains)
PUBLIC_HOSTS: dict[str, tuple[str, ...]] = {
    "zenodo": ("zenodo.org", "www.zenodo.org", "sandbox.zenodo.org"),
    "figshare": ("figshare.com", ".figshare.com"),  # institutional portals: <name>.figshare.com
    "dryad": ("datadryad.org", "www.datadryad.org"),
    "osf": ("osf.io", "api.osf.io", "www.osf.io"),
    "kaggle": ("kaggle.com", "www.kaggle.com"),
    "nei": ("reporter.nih.gov", "api.reporter.nih.gov"),
    "github": ("github.com", "www.github.com"),
}

DOI_ROUTES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("zenodo", re.compile(r"10\.5281/zenodo\.(\d+)")),
    ("figshare", re.compile(r"10\.6084/m9\.figshare\.(\d+)(?:\.v\d+)?")),
    ("dryad", re.compile(r"(10\.5061/dryad\..+)")),
    ("osf", re.compile(r"10\.17605/osf\.io/([a-z0-9]+)")),
)

# record paths (unquoted) per source; group 1 (and 2, joined by "/") is the key
PATH_ROUTES: dict[str, tuple[re.Pattern[str], ...]] = {
    "zenodo": (re.compile(r"(?:/api)?/records?/(\d+)(?:/.*)?"),),
    "figshare": (re.compile(r"(?:/v2)?/articles/(?:[^/]+/[^/]+/)?(\d+)(?:/\d+)?/?"),),
    "dryad": (re.compile(r"(?:/api/v2/datasets/|(?:/stash)?/dataset/)doi:(10\.5061/\S+?)/?"),),
    "osf": (re.compile(r"(?:/v2/nodes)?/([a-z0-9]{5})(?:/.*)?"),),
    "kaggle": (re.compile(r"(?:/api/v1/datasets/view|/datasets)/([^/]+)/([^/]+?)(?:/.*)?"),),
    "nei": (re.compile(r"(?:/search/[^/]+)?/project-details/(\d+)(?:/.*)?"),),
    "github": (re.compile(r"/([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+?)(?:\.git)?(?:/(?:releases|tree)(?:/.*)?)?/?"),),
}
_NOT_A_KAGGLE_OWNER = {"search", "new"}
_NOT_AN_OSF_GUID = {"about", "login", "legal", "terms", "users", "store"}  # 5-letter site pages
_RESERVED = {("kaggle", name) for name in _NOT_A_KAGGLE_OWNER} | {("osf", name) for name in _NOT_AN_OSF_GUID}


class InputError(ValueError):
    """An input that is neither a DOI nor an http(s) URL (or a record URL we cannot read)."""


class Target(NamedTuple):
    """What one input asks for: ``kind`` is ``record`` (``source`` + ``key``), ``doi``
    (``source="datacite"``, ``key`` the DOI), ``github`` (``key`` owner/name) or ``web``
    (``key`` the URL). ``doi``: the DOI the input named, when it named one."""

    text: str
    kind: str
    source: str | None
    key: str
    doi: str | None = None


def looks_like_doi(text: str) -> bool:
    lowered = text.strip().lower()
    return lowered.startswith(("10.", "doi:")) or bool(re.match(r"https?://(dx\.)?doi\.org/", lowered))


def route_doi(text: str, doi: str) -> Target:
    for source, pattern in DOI_ROUTES:
        match = pattern.fullmatch(doi)
        if match:
            return Target(text, "record", source, match.group(1), doi)
    return Target(text, "doi", "datacite", doi, doi)


def _host_matches(netloc: str, hostname: str, hosts: Iterable[str]) -> bool:
    for host in hosts:
        host = host.lower()
        if host.startswith(".") and hostname.endswith(host):
            return True
        if host in (netloc, hostname) and (":" not in host or host == netloc):
            return True
    return False


def source_hosts(api_urls: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """``PUBLIC_HOSTS`` plus the ``host:port`` of each configured API URL (a local fake in tests)."""
    hosts = {source: tuple(names) for source, names in PUBLIC_HOSTS.items()}
    for source, url in api_urls.items():
        netloc = urlsplit(url or "").netloc.lower()
        if netloc:
            hosts[source] = (*hosts.get(source, ()), netloc)
    return hosts


def route_url(text: str, url: str, hosts: Mapping[str, Collection[str]]) -> Target:
    parts = urlsplit(url)
    netloc, hostname = parts.netloc.lower(), (parts.hostname or "").lower()
    path = unquote(parts.path)
    for source, names in hosts.items():
        if source == "datacite" or not _host_matches(netloc, hostname, names):
            continue
        for pattern in PATH_ROUTES.get(source, ()):
            match = pattern.fullmatch(path)
            if not match:
                continue
            if (source, match.group(1)) in _RESERVED:
                break
            key = "/".join(g for g in match.groups() if g)
            if source == "github":
                return Target(text, "github", "github", key)
            doi = normalize_doi(key) if source == "dryad" else None
            return Target(text, "record", source, doi or key, doi)
    return Target(text, "web", None, url)


def route(text: str, hosts: Mapping[str, Collection[str]] | None = None) -> Target:
    """The target of one input line (already stripped); ``InputError`` when unusable."""
    text = text.strip()
    hosts = PUBLIC_HOSTS if hosts is None else hosts
    if not text:
        raise InputError("empty input")
    if looks_like_doi(text):
        doi = normalize_doi(text)
        if doi is None:
            raise InputError(f"{text!r} is not a valid DOI")
        return route_doi(text, doi)
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or " " in text:
        raise InputError(f"{text!r} is neither a DOI nor an http(s) URL")
    return route_url(text, text, hosts)


_LOGIN_PATH = re.compile(r"/(?:log-?in|sign-?in|signon|sso|auth(?:orize)?|users/sign_in|account/login)\b", re.IGNORECASE)


def is_login_redirect(asked: str, answered: str) -> bool:
    """Whether asking for ``asked`` ended on a login page (``answered``, after redirects)."""
    if answered.rstrip("/") == asked.rstrip("/"):
        return False
    parts = urlsplit(answered)
    return bool(_LOGIN_PATH.search(parts.path)) or (parts.hostname or "").startswith(("login.", "auth.", "sso."))


def read_inputs(path: str | Path) -> list[str]:
    """The inputs of a ``-a urls=`` file: one per line; blank lines and ``#`` comments skipped
    (also a comment after the input, when preceded by whitespace)."""
    inputs = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = re.split(r"(?:^|\s)#", line, maxsplit=1)[0].strip()
        if line:
            inputs.append(line)
    return inputs
