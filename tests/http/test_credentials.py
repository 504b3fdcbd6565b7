"""Secrets: read from the environment and the known variables of ``.env`` only; a token goes
only to the scheme, host and port of the API root it was issued for."""

from __future__ import annotations

import os

import pytest

from envision_spiders.http import credentials
from envision_spiders.http.credentials import ApiToken, api_token, basic_token, get_secret, same_origin


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.test/v2/nodes/?page=2", True),
        ("https://API.test:443/other", True),  # default port, case-insensitive host
        ("http://api.test/v2/nodes/", False),  # plain http
        ("https://api.test:8443/v2/", False),  # another port
        ("https://files.api.test/v2/", False),  # another host
        ("https://api.test.evil.example/v2/", False),
        ("file:///etc/passwd", False),
        ("https://api.test:notaport/", False),
    ],
)
def test_same_origin_means_scheme_host_and_port(url, expected):
    assert same_origin(url, "https://api.test/v2") is expected


def test_token_header_only_for_the_api_origin_and_never_printed():
    token = ApiToken("https://api.test/v2", "Bearer s3cret")
    assert token.headers_for("https://api.test/v2/x") == {"Authorization": "Bearer s3cret"}
    assert token.headers_for("http://api.test/v2/x") == {}
    assert token.headers_for("https://api.test:8080/v2/x") == {}
    assert "s3cret" not in repr(token)


@pytest.fixture
def dotenv_dir(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text(
        "ZENODO_ACCESS_TOKEN=from-dotenv\nOSF_TOKEN=dotenv-osf\nLD_PRELOAD=/tmp/evil.so\n"
        "HTTPS_PROXY=http://attacker.example:3128\nPYTHONPATH=/tmp/evil\n"
    )
    monkeypatch.chdir(tmp_path)
    for name in ("ZENODO_ACCESS_TOKEN", "OSF_TOKEN", "LD_PRELOAD", "HTTPS_PROXY", "PYTHONPATH"):
        monkeypatch.delenv(name, raising=False)
    credentials._dotenv.cache_clear()
    yield tmp_path
    credentials._dotenv.cache_clear()


def test_dotenv_gives_known_token_variables_only_and_leaves_the_environment_alone(dotenv_dir):
    before = dict(os.environ)
    assert get_secret("ZENODO_ACCESS_TOKEN") == "from-dotenv"
    assert get_secret("LD_PRELOAD") is None
    assert get_secret("HTTPS_PROXY") is None
    assert get_secret("PYTHONPATH") is None or get_secret("PYTHONPATH") == os.environ.get("PYTHONPATH")
    assert dict(os.environ) == before  # nothing from .env is exported to child processes


def test_environment_wins_over_dotenv(dotenv_dir, monkeypatch):
    monkeypatch.setenv("OSF_TOKEN", "from-env")
    assert get_secret("OSF_TOKEN") == "from-env"
    assert api_token("https://api.osf.test/v2", "OSF_TOKEN") == ApiToken("https://api.osf.test/v2", "Bearer from-env")
    assert api_token("https://api.osf.test/v2", None) is None


def test_basic_token_needs_both_secrets(monkeypatch):
    monkeypatch.setenv("DEMO_USER", "ann")
    monkeypatch.delenv("DEMO_KEY", raising=False)
    assert basic_token("https://api.test", "DEMO_USER", "DEMO_KEY") is None
    monkeypatch.setenv("DEMO_KEY", "k")
    assert basic_token("https://api.test", "DEMO_USER", "DEMO_KEY") == ApiToken("https://api.test", "Basic YW5uOms=")
