"""Drift detection: does each repository API still answer in the shape the spiders read?

What enters: the records a tiny live crawl of each source emitted (``max_records`` ≈ 3, archive
inspection, classifier and downloads off, state in a throw-away data directory), the raw
listing pages it fetched (URL + body), and the records already stored in the real data
directory (the baseline: which mapped fields a source used to fill). What leaves: one line per
drift — a record that breaks the schema, a mapped field empty in every sampled record although
it was filled in the stored ones, a listing page without its paging link (``links.next`` while
more results remain) or not in its documented envelope, a source that gave no record or did not
finish. ``scrapy canary`` (``commands/canary.py``) runs the crawls and prints the lines; it is
run before the weekly crawl (docs/operations.md).
"""
