"""The User-Agent names a contact: built from ``ENVISION_CONTACT_EMAIL`` when the crawl starts.

DataCite and Figshare ask clients to identify themselves with an email address (DataCite
gives identified clients a higher rate). ``ContactAddon`` fills ``USER_AGENT`` from the
``ENVISION_USER_AGENT`` template and the ``ENVISION_CONTACT_EMAIL`` setting of *this* crawl, so
``-s ENVISION_CONTACT_EMAIL=…`` (or a scrapyd job's setting) reaches every request. A
``USER_AGENT`` set explicitly (``-s USER_AGENT=…``, a spider's ``custom_settings``) is kept.
"""

from __future__ import annotations

from typing import Any

from scrapy.settings import SETTINGS_PRIORITIES


def contact_user_agent(template: str, email: str) -> str:
    """``template`` with ``{email}`` filled in."""
    return template.format(email=email)


class ContactAddon:
    """Sets ``USER_AGENT`` from the contact email unless it was set above Scrapy's default."""

    def update_settings(self, settings: Any) -> None:
        if settings.getpriority("USER_AGENT") > SETTINGS_PRIORITIES["default"]:
            return
        user_agent = contact_user_agent(settings.get("ENVISION_USER_AGENT"), settings.get("ENVISION_CONTACT_EMAIL"))
        settings.set("USER_AGENT", user_agent, priority="addon")
