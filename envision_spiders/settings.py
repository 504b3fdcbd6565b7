"""Every default of envision-spiders in one place. Override with ``-s NAME=value``.

Per-source politeness lives in each spider's ``custom_settings``; secrets never live here
(see ``credentials.py``).
"""

import os

# tldextract (via url-matcher / scrapy-poet) would fetch the public suffix list at start-up:
# a closed network turns that into logged tracebacks. Its bundled snapshot is enough.
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

BOT_NAME = "envision_spiders"
SPIDER_MODULES = ["envision_spiders.spiders"]
NEWSPIDER_MODULE = "envision_spiders.spiders"
COMMANDS_MODULE = "envision_spiders.commands"

# --- where things go --------------------------------------------------------------------
ENVISION_DATA_DIR = "data"  # metadata/, feeds/, results/, downloads/, state.sqlite3
ENVISION_STATE_TIMEOUT = 60.0  # seconds a writer waits for another crawl's SQLite transaction
ENVISION_STORE_FSYNC = False  # fsync each record file (crash-safe against power loss, slower)
ENVISION_INCREMENTAL = True  # skip records whose `modified` is unchanged since they were stored
ENVISION_STATS_FILE = ""  # when set, the final stats are written there as JSON
ENVISION_CONTACT_EMAIL = "envision-spiders@example.org"  # sent in the User-Agent (DataCite, Figshare)

# --- repository API roots (the same spider runs against a local fake in tests) ----------
ZENODO_API_URL = "https://zenodo.org/api"
FIGSHARE_API_URL = "https://api.figshare.com/v2"
DRYAD_API_URL = "https://datadryad.org/api/v2"
OSF_API_URL = "https://api.osf.io/v2"
DATACITE_API_URL = "https://api.datacite.org"
KAGGLE_API_URL = "https://www.kaggle.com/api/v1"
NEI_API_URL = "https://api.reporter.nih.gov/v2"

# --- Zenodo -----------------------------------------------------------------------------
ZENODO_RESOURCE_TYPES = ["dataset"]  # resource_type.type values searched
ZENODO_QUERY_MAX_LENGTH = 1500  # characters of `q` per request; terms are packed into OR-groups
ZENODO_RESULT_WINDOW = 10000  # hits reachable by paging; larger results are split by date
ZENODO_MIN_DATE = "1900-01-01"  # lower bound of the publication_date ranges when splitting
ZENODO_PAGE_SIZE_ANONYMOUS = 25
ZENODO_PAGE_SIZE_TOKEN = 100

# --- crawling -----------------------------------------------------------------------------
USER_AGENT = f"envision-spiders/0.1 (eye-imaging dataset discovery; mailto:{ENVISION_CONTACT_EMAIL})"
ROBOTSTXT_OBEY = False  # APIs; the portal spider obeys robots.txt in its custom_settings
DEFAULT_REQUEST_HEADERS = {"Accept": "application/json", "Accept-Language": "en"}
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 4
DOWNLOAD_TIMEOUT = 60
TELNETCONSOLE_ENABLED = False
LOG_LEVEL = "INFO"
# 429/503 are retried with exponential backoff honouring Retry-After (BackoffMiddleware);
# other transient errors keep Scrapy's immediate retries.
RETRY_HTTP_CODES = [500, 502, 504, 522, 524, 408]
RETRY_TIMES = 3
ENVISION_BACKOFF_HTTP_CODES = [429, 503]
ENVISION_BACKOFF_MAX_RETRIES = 6
ENVISION_BACKOFF_BASE_DELAY = 1.0  # seconds; doubles per attempt (with jitter)
ENVISION_BACKOFF_MAX_DELAY = 300.0  # a Retry-After above this is not waited for: the request gives up
ENVISION_MALFORMED_RETRIES = 2  # re-fetches of an API page that is not the JSON expected

EXTENSIONS = {"envision_spiders.extensions.StatsFile": 500}
ADDONS = {"scrapy_poet.Addon": 300}
SCRAPY_POET_DISCOVER = ["envision_spiders.pages"]

DOWNLOADER_MIDDLEWARES = {
    "envision_spiders.middlewares.backoff.BackoffMiddleware": 560,
}
SPIDER_MIDDLEWARES = {
    "envision_spiders.middlewares.incremental.IncrementalMiddleware": 960,
}
ITEM_PIPELINES = {
    "envision_spiders.pipelines.dedup.DedupPipeline": 100,
    "envision_spiders.pipelines.store.StorePipeline": 800,
}
# Dedup: these sources index other repositories' records; a repository-native record of the
# same DOI is canonical over theirs, whichever crawl ran first.
ENVISION_AGGREGATOR_SOURCES = ["datacite"]

# --- feeds: every record of the run, and the EYE_IMAGING subset ---------------------------
FEED_EXPORT_ENCODING = "utf-8"
FEEDS = {
    "%(data_dir)s/feeds/%(name)s/%(time)s.all.jsonl": {
        "format": "jsonlines",
        "uri_params": "envision_spiders.feeds.uri_params",
    },
    "%(data_dir)s/feeds/%(name)s/%(time)s.eye_imaging.jsonl": {
        "format": "jsonlines",
        "uri_params": "envision_spiders.feeds.uri_params",
        "item_filter": "envision_spiders.feeds.EyeImagingFilter",
    },
}
