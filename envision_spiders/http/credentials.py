"""Secrets come from the environment (and a ``.env`` file in the working directory, if any),
and go only to the origin they belong to.

This is the one place that reads them and builds ``Authorization`` values. They never go into
settings (Scrapy logs overridden settings), items, feeds, logs or error messages.

``.env`` is read for the variables the project knows (``ENV_FILE_VARIABLES``) and nothing else:
a ``.env`` line such as ``LD_PRELOAD=...`` or ``HTTPS_PROXY=...`` is ignored, and ``os.environ`` is
never changed. The environment wins over ``.env``.

``ApiToken`` pairs an ``Authorization`` value with the API root it was issued for; its
``headers_for(url)`` gives the header only when the URL's scheme, host and port equal the
root's (``http://`` or another port of the same host gets nothing), so a ``links.next`` or a
file URL pointing elsewhere is fetched without it.

``file_tokens(settings)`` gives the tokens a source's *file* requests carry (archive inspection
and gated downloads alike): ``ENVISION_FILE_AUTH`` maps a source to its secret and scheme (or
``basic``: two secrets for HTTP Basic) and its API root setting; a source whose API issues
tokens for client credentials (Dryad) names them in its entry's ``client_credentials`` (the one
place: the spider reads them there too) and, with no token
set, gets one from ``client_credentials_token`` (the spider for its API requests, the
downloads for their files), and each file request gets ``token.headers_for(file_url)``. A redirect to another
origin then loses the header: Scrapy's ``RedirectMiddleware`` deletes ``Authorization`` when
the scheme, host or port changes (``_build_redirect_request``; checked in Scrapy 2.19).

Some secrets are settings: Scrapy's own ``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN``
(S3 feeds and the record store), given with ``-s`` or by scrapyd. Scrapy logs the values of its
own settings that differ from its defaults at start-up (and scrapyd keeps that log), so
``RedactSecretSettings`` masks them in that line: values of secret-named settings
(``redact_setting``) and passwords inside URLs (``redact_url``). Our own settings
(``ENVISION_STATE_URL``…) are not in that line.
"""

from __future__ import annotations

import ast
import base64
import json
import logging
import os
import pprint
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import urljoin, urlsplit

TOKEN_VARIABLES = (
    "ZENODO_ACCESS_TOKEN",
    "FIGSHARE_ACCESS_TOKEN",
    "DRYAD_TOKEN",
    "DRYAD_CLIENT_ID",  # with DRYAD_CLIENT_SECRET: OAuth2 client credentials -> a 10-hour token
    "DRYAD_CLIENT_SECRET",
    "OSF_TOKEN",
    "KAGGLE_API_TOKEN",
    "KAGGLE_USERNAME",
    "KAGGLE_KEY",
    "PORTAL_TOKEN",
    "SCRAPYD_USERNAME",
    "SCRAPYD_PASSWORD",
)
ENV_FILE_VARIABLES = frozenset((*TOKEN_VARIABLES, "PORTAL_URL"))
_DEFAULT_PORTS = {"http": 80, "https": 443}


@cache
def _dotenv(directory: str) -> dict[str, str]:
    """The known variables of ``<directory>/.env`` (read once per directory)."""
    try:
        from dotenv import dotenv_values
    except ImportError:  # pragma: no cover - python-dotenv is a dependency (pyproject.toml)
        return {}
    values = dotenv_values(os.path.join(directory, ".env"))
    return {k: v for k, v in values.items() if k in ENV_FILE_VARIABLES and v is not None}


def get_secret(name: str) -> str | None:
    """The value of a secret variable (environment, else ``.env``), or None when unset or blank."""
    value = os.environ.get(name) or _dotenv(os.getcwd()).get(name, "")
    return value.strip() or None


def basic_auth_header(username: str, key: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{key}".encode()).decode("ascii")


def origin(url: str) -> tuple[str, str, int | None]:
    """``(scheme, host, port)`` with the scheme's default port filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:  # a port that is not a number: matches nothing
        return scheme, "", -1
    return scheme, (parts.hostname or "").lower(), port or _DEFAULT_PORTS.get(scheme)


def same_origin(url: str, root: str) -> bool:
    """Whether ``url`` has the scheme, host and port of ``root``."""
    here = origin(url)
    return bool(here[1]) and here == origin(root)


@dataclass(frozen=True)
class ApiToken:
    """An ``Authorization`` value valid at one API root (its origin)."""

    root: str
    value: str

    def __repr__(self) -> str:  # never print the secret
        return f"ApiToken(root={self.root!r}, value=<hidden>)"

    def headers_for(self, url: str) -> dict[str, str]:
        return {"Authorization": self.value} if same_origin(url, self.root) else {}


def api_token(root: str, variable: str | None, scheme: str = "Bearer") -> ApiToken | None:
    """``ApiToken`` for ``root`` from secret ``variable`` as ``<scheme> <token>``, or None when unset."""
    token = get_secret(variable) if variable else None
    return ApiToken(root, f"{scheme} {token}") if token else None


def basic_token(root: str, user_variable: str, key_variable: str) -> ApiToken | None:
    """``ApiToken`` for ``root`` with HTTP Basic credentials from two secrets, or None unless both are set."""
    user, key = get_secret(user_variable), get_secret(key_variable)
    return ApiToken(root, basic_auth_header(user, key)) if user and key else None


def oauth_access_token(status: int, body: bytes) -> str | None:
    """The ``access_token`` of an OAuth2 token answer, or None when it is not one."""
    if status != 200:
        return None
    try:
        token = json.loads(body).get("access_token")
    except (ValueError, AttributeError):
        return None
    return token if isinstance(token, str) and token else None


async def client_credentials_token(crawler: Any, root: str, spec: Sequence[str], log: logging.Logger) -> ApiToken | None:
    """An OAuth2 ``client_credentials`` token for the API at ``root``: ``spec`` is the token
    path (relative to ``root``) and the secret variables of the client id and secret. None
    when those are not set, or when the API refuses (logged). Counted as
    ``envision/auth/oauth_token`` / ``envision/auth/oauth_failed``."""
    import scrapy
    from scrapy.http.request import NO_CALLBACK

    path, id_variable, secret_variable = spec
    client_id, secret = get_secret(id_variable), get_secret(secret_variable)
    if not (client_id and secret):
        return None
    request = scrapy.FormRequest(
        urljoin(root, path), callback=NO_CALLBACK, dont_filter=True, meta={"handle_httpstatus_all": True},
        formdata={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    response = await crawler.engine.download_async(request)
    token = oauth_access_token(response.status, response.body)
    crawler.stats.inc_value("envision/auth/oauth_token" if token else "envision/auth/oauth_failed")
    if not token:
        log.error("OAuth token request to %s failed (HTTP %d)", request.url, response.status)
        return None
    return ApiToken(root, f"Bearer {token}")


def client_credentials_of(settings: Any) -> dict[str, tuple[str, list[str]]]:
    """source -> (API root, ``client_credentials`` spec) for the sources of ``ENVISION_FILE_AUTH``
    that have one and whose API root is an http(s) URL."""
    out = {}
    for source, spec in (settings.getdict("ENVISION_FILE_AUTH") or {}).items():
        root = str(settings.get(spec["api_url_setting"]) or "")
        if spec.get("client_credentials") and root.startswith(("http://", "https://")):
            out[source] = (root, list(spec["client_credentials"]))
    return out


def file_tokens(settings: Any) -> dict[str, ApiToken]:
    """source -> ``ApiToken`` for the sources of ``ENVISION_FILE_AUTH`` whose secret is set
    and whose API root (``api_url_setting``) is an http(s) URL. ``settings`` is Scrapy's."""
    out: dict[str, ApiToken] = {}
    for source, spec in (settings.getdict("ENVISION_FILE_AUTH") or {}).items():
        root = str(settings.get(spec["api_url_setting"]) or "")
        if not root.startswith(("http://", "https://")):
            continue
        basic = spec.get("basic")
        token = (basic_token(root, *basic) if basic else None) or api_token(root, spec.get("secret"),
                                                                          spec.get("scheme", "Bearer"))
        if token is not None:
            out[source] = token
    return out


# setting names whose values are secrets; numbers are let through (ZENODO_PAGE_SIZE_TOKEN = 100
# is a page size for token holders, not a token)
SECRET_SETTING_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL|(?:^|_)(?:API_|ACCESS_)?KEY(?:_ID)?$")
REDACTED = "***"
OVERRIDDEN_SETTINGS_MESSAGE = "Overridden settings"  # scrapy.crawler's start-up line (Scrapy 2.19)


def redact_url(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", f":{REDACTED}@", 1)
    return parts._replace(netloc=netloc).geturl()


def redact_setting(name: str, value: Any) -> Any:
    """``value`` as it may be logged: masked when ``name`` names a secret (unless it is a number),
    with any URL password masked otherwise."""
    if not isinstance(value, str):
        return value
    if SECRET_SETTING_NAME.search(name.upper()) and value and not _is_number(value):
        return REDACTED
    return redact_url(value) if "@" in value else value


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


class _OverriddenSettingsFilter(logging.Filter):
    """Rewrites Scrapy's "Overridden settings" record with secrets masked. It reads the settings
    back from the record itself (a ``pprint`` of a dict of literals), so one filter serves every
    crawler of a process."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not (isinstance(record.msg, str) and record.msg.startswith(OVERRIDDEN_SETTINGS_MESSAGE)
                and isinstance(record.args, dict) and isinstance(record.args.get("settings"), str)):
            return True
        try:
            overridden = ast.literal_eval(record.args["settings"])
        except (ValueError, SyntaxError):
            overridden = None
        if isinstance(overridden, dict):
            masked = pprint.pformat({name: redact_setting(str(name), value) for name, value in overridden.items()})
        else:  # not literals after all: say nothing rather than risk a secret
            masked = "(not shown: could not be checked for secrets)"
        record.args = {**record.args, "settings": masked}
        return True


_SETTINGS_FILTER = _OverriddenSettingsFilter()


class RedactSecretSettings:
    """Extension: mask secrets in Scrapy's start-up log of overridden settings. Extensions are
    built just before that line is logged (``Crawler._apply_settings``), so the filter is in place
    for it; it is installed once per process, on the ``scrapy.crawler`` logger."""

    @classmethod
    def from_crawler(cls, crawler: Any) -> RedactSecretSettings:
        logger = logging.getLogger("scrapy.crawler")
        if _SETTINGS_FILTER not in logger.filters:
            logger.addFilter(_SETTINGS_FILTER)
        return cls()
