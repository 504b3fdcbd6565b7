"""URL ingest: any dataset URL or DOI in, at most one record out (``scrapy crawl url``).

What enters: the text of one input (a DOI in any spelling, a record URL of a source we
crawl, a GitHub repository, a bare file or archive URL, any other web page), read from
``-a url=`` or a ``-a urls=`` file (``read_inputs``). ``route`` turns it into a ``Target``:
which source answers it and under which key, with no I/O, so the decision is unit-tested
without a server. ``Ledger`` keeps, per input, the record it gave or why it gave none, for
the one-line-per-input summary at the end. What leaves: ``Target``s and that summary; the
requests are built by ``envision_spiders.spiders.url`` through each source spider's own
request building and page objects, so a record read by URL is the one its spider emits.
Called by: ``spiders/url.py`` only.
"""

from envision_spiders.ingest.route import InputError, Target, read_inputs, route

__all__ = ["InputError", "Target", "read_inputs", "route"]
