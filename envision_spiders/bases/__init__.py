"""The documented bases every spider stands on (as alltheplaces keeps its platform spiders apart
from the spiders that use them). Each module's docstring is its contract: the attributes a
spider declares, the hooks it writes, the stop rules and the stats keys.

- ``spider.py``: ``EnvisionSpider`` (arguments, preflight, ``SpiderConfig``, tokens, politeness);
- ``offset_paging.py``: offset / page-number search APIs (Zenodo, Figshare, Kaggle, RePORTER);
- ``links_paging.py``: APIs that page by a ``next`` link (Dryad, OSF, DataCite);
- ``file_listing.py``: detail -> paged file listing -> record (Figshare, Kaggle, Dryad, OSF).

What enters: a spider's declared attributes and hooks; what leaves: requests and records.
Who uses them: ``envision_spiders.spiders.*`` and the preflight of ``scrapy crawl``.
"""
