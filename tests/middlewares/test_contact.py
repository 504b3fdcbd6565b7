"""The User-Agent carries the contact email of the crawl's own settings (real crawls, fake DataCite)."""

from __future__ import annotations

import pytest

from tests.servers.datacite import FakeDataCite


@pytest.fixture
def fake():
    server = FakeDataCite(n_eye=3, n_other=0)
    server.start()
    yield server
    server.stop()


def user_agents(server: FakeDataCite) -> set[str]:
    return {value for call in server.calls for key, value in call.headers.items() if key.lower() == "user-agent"}


def test_contact_email_setting_reaches_the_user_agent_of_every_request(fake, crawl):
    result = crawl("datacite", settings={"DATACITE_API_URL": fake.base_url, "ENVISION_CONTACT_EMAIL": "eyes@lab.example"})
    assert result.returncode == 0, result.log
    assert fake.calls
    assert user_agents(fake) == {"envision-spiders/0.1 (eye-imaging dataset discovery; mailto:eyes@lab.example)"}
    assert "has no contact email" not in result.log


def test_an_explicit_user_agent_is_kept(fake, crawl):
    result = crawl("datacite", settings={"DATACITE_API_URL": fake.base_url, "USER_AGENT": "lab-bot/1 (ops@lab.example)"})
    assert result.returncode == 0, result.log
    assert user_agents(fake) == {"lab-bot/1 (ops@lab.example)"}
