"""Secrets come from the environment (and a ``.env`` file in the working directory, if any).

This is the one place that reads them. They never go into settings (Scrapy logs overridden
settings), items, feeds, logs or error messages.
"""

from __future__ import annotations

import base64
import os
from functools import cache

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


@cache
def _load_dotenv() -> None:
    try:
        from dotenv import load_dotenv
    except ImportError:  # pragma: no cover - python-dotenv is a dependency (pyproject.toml)
        return
    load_dotenv(os.path.join(os.getcwd(), ".env"), override=False)


def get_secret(name: str) -> str | None:
    """The value of a secret variable, or None when unset or blank."""
    _load_dotenv()
    value = os.environ.get(name, "").strip()
    return value or None


def basic_auth_header(username: str, key: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{key}".encode()).decode("ascii")
