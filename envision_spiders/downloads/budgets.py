"""The rate budgets of ``scrapy download``: the stored records' sources' budget slots, as their crawls have them.

What enters: the settings and the sources whose records will be downloaded. What leaves: the
``DOWNLOAD_SLOTS`` entries of their budget slots (``http/slots.py``): the file slot of a source
with a file rate (Dryad, OSF, Zenodo with a token), the shared slot of a source with one rate
for every request (Figshare, Kaggle), a file slot at the crawl's delay for a source whose file
requests share its search slot in a crawl (Zenodo's guests), built by the source spider's own ``update_settings`` on a
copy of the settings, so a download keeps to the same budget as the crawl's inspection and
gated downloads (a ``-s DOWNLOAD_DELAY`` or ``-s DOWNLOAD_SLOTS`` acts as in a crawl). Who calls
it: ``commands/download.py``, before it splits the limits between its processes.

Only the spider modules of those sources are imported (a module is named after its spider,
``<SPIDER_MODULES entry>.<source>``): records of a source without a spider get no budget slot
and load nothing.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterable
from typing import Any

from scrapy.settings import BaseSettings
from scrapy.utils.spider import iter_spider_classes

from envision_spiders.http.slots import budget_slot_of, file_slot, slot_for_rate


def source_spider(modules: Iterable[str], source: str) -> type | None:
    """The spider class named ``source`` in module ``<module>.<source>`` of one of ``modules``."""
    for package in modules:
        name = f"{package}.{source}"
        try:
            found = importlib.util.find_spec(name)
        except ModuleNotFoundError:  # the package itself is missing
            continue
        if found is None:
            continue
        for spidercls in iter_spider_classes(importlib.import_module(name)):
            if spidercls.name == source:
                return spidercls
    return None


def budget_slots(settings: BaseSettings, modules: Iterable[str], sources: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The ``DOWNLOAD_SLOTS`` entries of the budget slots of ``sources``' spiders."""
    slots: dict[str, dict[str, Any]] = {}
    modules = list(modules)
    for source in sources:
        spidercls = source_spider(modules, source)
        if spidercls is None:
            continue
        crawl_settings = settings.copy()
        spidercls.update_settings(crawl_settings)
        configured = crawl_settings.getdict("DOWNLOAD_SLOTS")
        slot = budget_slot_of(source, configured)
        if slot is not None:
            slots[slot] = dict(configured[slot])
        elif spidercls.file_rate_settings and crawl_settings.getfloat("DOWNLOAD_DELAY") > 0:
            # a source whose file requests share its search slot in a crawl (Zenodo's guests:
            # one overall budget, 2,000 requests an hour): with no search here, they get that
            # slot's pace in a file slot of their own, not no budget at all
            slots[file_slot(source)] = slot_for_rate(3600.0 / crawl_settings.getfloat("DOWNLOAD_DELAY"))
    return slots
