"""Several scrapyd nodes: who they are, what runs where, where the next job goes.

What enters: the node list (``SCRAPYD_URLS``, else ``SCRAPYD_URL``), the nodes' own answers
(``daemonstatus.json``, ``listjobs.json``, ``listspiders.json``, the tail of a running job's
log over scrapyd's ``logs/`` endpoint) and the shared state (run ledger, leases). What leaves:
a survey of the nodes (``scrapyd.survey``), a placement of spiders on the least busy nodes
(``placement.py``, pure) and the status view (``status.py``). Who calls it: ``scrapy schedule``
and ``scrapy status``; every byte goes through ``http/client.py``. See docs/scale-out.md.
"""
