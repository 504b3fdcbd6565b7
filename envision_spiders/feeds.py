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
