"""Feed export helpers referenced from the FEEDS setting."""

from __future__ import annotations

from typing import Any

from itemadapter import ItemAdapter
from scrapy.extensions.feedexport import ItemFilter

EYE_IMAGING = "EYE_IMAGING"


class EyeImagingFilter(ItemFilter):
    """Lets through the records the classifier labelled EYE_IMAGING."""

    def accepts(self, item: Any) -> bool:
        return ItemAdapter(item).get("label") == EYE_IMAGING


def uri_params(params: dict[str, Any], spider: Any) -> dict[str, Any]:
    """Adds ``%(data_dir)s`` to feed URIs so feeds follow ENVISION_DATA_DIR."""
    params["data_dir"] = spider.settings.get("ENVISION_DATA_DIR")
    return params


class PortalFeedsAddon:
    """Merges ``ENVISION_FEEDS`` (the portal's feeds) into ``FEEDS``.

    ``-o``/``-O`` and scrapyd's ``items_dir`` set ``FEEDS`` on the command line, which would
    replace the portal feeds; merged here, they add their outputs instead. Turn the portal
    feeds off with ``-s ENVISION_FEEDS={}``.
    """

    def update_settings(self, settings: Any) -> None:
        portal_feeds = settings.getdict("ENVISION_FEEDS")
        if not portal_feeds:
            return
        feeds = {**portal_feeds, **settings.getdict("FEEDS")}
        settings.set("FEEDS", feeds, priority=settings.getpriority("FEEDS") or "addon")
