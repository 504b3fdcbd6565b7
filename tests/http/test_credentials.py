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


@pytest.mark.parametrize(
    ("name", "value", "logged"),
    [
        ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI", "***"),
        ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE", "***"),
        ("KAGGLE_KEY", "abc123", "***"),
        ("MY_API_TOKEN", "t0k3n", "***"),
        ("SCRAPYD_PASSWORD", "hunter2", "***"),
        ("ZENODO_PAGE_SIZE_TOKEN", "100", "100"),  # a number for token holders, not a token
        ("ENVISION_STATE_URL", "postgresql://envision:s3cret@db.lan/envision", "postgresql://envision:***@db.lan/envision"),
        ("ENVISION_STATE_URL", "postgresql://db.lan/envision", "postgresql://db.lan/envision"),
        ("KEYWORDS_FILE", "queries.txt", "queries.txt"),  # KEY inside a word is not a key
        ("CONCURRENT_REQUESTS", 8, 8),
    ],
)
def test_secret_settings_are_masked_for_logs(name, value, logged):
    assert credentials.redact_setting(name, value) == logged


def test_scrapy_start_up_log_shows_overridden_settings_without_their_secrets(tmp_path):
    """The real ``scrapy download`` (it builds a crawler) with secrets given as ``-s``: Scrapy's
    "Overridden settings" line (it lists the settings Scrapy itself knows, the ``AWS_*`` among
    them) still names every one, with the secrets masked."""
    import subprocess

    from tests.conftest import PROJECT_ROOT, scrapy_command, scrapy_env

    secrets = {"AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMIsecret", "AWS_SESSION_TOKEN": "FwoGZXIvYXdzsession"}
    cmd = scrapy_command("download", "-s", f"ENVISION_DATA_DIR={tmp_path}", "-s", "LOG_LEVEL=INFO",
                         "-s", "AWS_ENDPOINT_URL=https://curator:pa55word@objects.test")
    for name, value in secrets.items():
        cmd += ["-s", f"{name}={value}"]
    done = subprocess.run(cmd, cwd=PROJECT_ROOT, env=scrapy_env(), capture_output=True, text=True, timeout=120)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-2000:]
    assert "Overridden settings" in log
    assert "'AWS_SECRET_ACCESS_KEY': '***'" in log and "'AWS_SESSION_TOKEN': '***'" in log
    assert "https://curator:***@objects.test" in log
    for leaked in (*secrets.values(), "pa55word"):
        assert leaked not in log
