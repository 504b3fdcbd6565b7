"""Progress a person can watch, from stats only: what enters is a running crawler (its stats,
its downloader's slots and its scheduler); what leaves is one periodic log line per crawler
(``CrawlProgress``, every ``ENVISION_PROGRESS_INTERVAL`` seconds) and the same figures as
``envision/progress/*`` values in the final stats. ``figures.py`` computes and words the
figures (pure); ``extension.py`` is the Scrapy extension enabled in settings.py;
``live.py`` draws one line per spider in place on a terminal, called by ``scrapy crawlall``.
Gated downloads (``pipelines/files.py``, ``scrapy download``) add bytes done, MB/s and an ETA
overall to the same line; ``downloads/fetch.py`` logs each large file's own progress.
"""
