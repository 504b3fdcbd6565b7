"""Every default of envision-spiders in one place. Override with ``-s NAME=value``.

Per-source politeness lives in each spider's ``custom_settings``; secrets never live here
(see ``credentials.py``).
"""

import os

from scrapy.settings.default_settings import EXTENSIONS_BASE as _SCRAPY_EXTENSIONS_BASE

# tldextract (via url-matcher / scrapy-poet) would fetch the public suffix list at start-up:
# a closed network turns that into logged tracebacks. Its bundled snapshot is enough.
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

BOT_NAME = "envision_spiders"
SPIDER_MODULES = ["envision_spiders.spiders"]
NEWSPIDER_MODULE = "envision_spiders.spiders"
COMMANDS_MODULE = "envision_spiders.commands"

# --- where things go --------------------------------------------------------------------
ENVISION_DATA_DIR = "data"  # metadata/, feeds/, results/, downloads/, state.sqlite3
ENVISION_STATE_TIMEOUT = 60.0  # seconds a writer waits for another crawl's state transaction
# records whose state writes (dedup claim, store) share one transaction at most (state/batch.py);
# 1 = a transaction per record and step
ENVISION_STATE_GROUP_COMMIT = 200
# The shared state: "" = the SQLite file {ENVISION_DATA_DIR}/state.sqlite3; postgresql://user@host/db =
# one PostgreSQL database for every node (password from PGPASSWORD or ~/.pgpass, never here).
ENVISION_STATE_URL = ""
# this node's name in lease holders (node:pid); "" = the host name. The environment variable of the
# same name sets it per node (scrapy schedule sends the same job settings to every node)
ENVISION_NODE_NAME = os.environ.get("ENVISION_NODE_NAME", "")
ENVISION_LEASE_SECONDS = 60.0  # length of a work lease (downloads per record); renewed every third of it
ENVISION_STORE_FSYNC = False  # fsync each record file (crash-safe against power loss, slower)
ENVISION_STORE_FSYNC_BARRIER = "filesystem"  # with ENVISION_STORE_FSYNC: one syncfs a batch ("file": fsync each)
ENVISION_STORE_FSYNC_THREADS = 8  # with ENVISION_STORE_FSYNC_BARRIER "file": record files fsync'd at once
# Where records (metadata/) and the portal feeds (feeds/) go: "" = under ENVISION_DATA_DIR;
# "s3://bucket/prefix" = an S3-compatible object store (docs/operations.md, "Object storage").
# Gated downloads follow FILES_STORE (also s3:// capable). The state DB stays local/PostgreSQL.
ENVISION_STORE_URL = ""
# The object store's client: Scrapy's own AWS_* settings (its S3 feed storage reads them too).
# Credentials are best left to the environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY,
# botocore's chain): Scrapy logs settings given with -s.
AWS_ENDPOINT_URL = None  # e.g. http://127.0.0.1:9000 for MinIO/Ceph; None = AWS
AWS_REGION_NAME = None  # None = us-east-1 for our client
AWS_USE_SSL = None  # None = botocore's default (https unless the endpoint says http)
AWS_VERIFY = None  # None = verify TLS certificates; False, or a CA bundle path
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
CROSSREF_API_URL = "https://api.crossref.org"  # `scrapy crawl url`: landing pages of DOIs DataCite does not know ("" = skip)
GITHUB_API_URL = "https://api.github.com"  # `scrapy crawl url` reads GitHub repositories (anonymous: 60 requests/hour)

# --- Zenodo -----------------------------------------------------------------------------
ZENODO_RESOURCE_TYPES = ["dataset"]  # resource_type.type values searched
ZENODO_QUERY_MAX_LENGTH = 1500  # characters of `q` per request; terms are packed into OR-groups
ZENODO_RESULT_WINDOW = 10000  # hits reachable by paging; larger results are split by date
ZENODO_MIN_DATE = "1900-01-01"  # lower bound of the publication_date ranges when splitting
ZENODO_PAGE_SIZE_ANONYMOUS = 25
ZENODO_PAGE_SIZE_TOKEN = 100

# --- Figshare / Kaggle / NIH RePORTER: offset/page paging (bases/offset_paging.py) -------------
FIGSHARE_ITEM_TYPE = 3  # Dataset
FIGSHARE_PAGE_SIZE = 100  # `limit` per search request (schema maximum 1000)
FIGSHARE_MAX_OFFSET = 1000  # prose docs: 422 past offset 1000 (schema says 5000): the stricter one
FIGSHARE_QUERY_MAX_LENGTH = 400  # characters of `search_for`; terms are packed into OR-groups
FIGSHARE_DETAIL_FILES_CAP = 10  # the article detail lists at most this many files: more -> /files
FIGSHARE_FILES_PAGE_SIZE = 1000  # page_size of /articles/{id}/files (schema maximum 1000)
KAGGLE_PAGE_SIZE = 20  # the legacy /datasets/list serves a fixed 20 per page
KAGGLE_MAX_PAGE = 500  # pages past 500 come back empty (10,000-result cap)
KAGGLE_SORT_BY = "votes"  # hottest|votes|updated|active: votes moves least while we page
KAGGLE_FILES_PAGE_SIZE = 200  # pageSize of /datasets/list/{owner}/{slug}; nextPageToken is followed
NEI_PAGE_SIZE = 500  # `limit` (maximum 500)
NEI_MAX_OFFSET = 14999  # 2024+ clients; older docs 9,999. A 400 past it splits the query instead
NEI_AGENCIES = ["NEI"]  # IC abbreviations in criteria.agencies
NEI_SEARCH_FIELD = "projecttitle,terms,abstracttext"
NEI_SEARCH_OPERATOR = "advanced"  # "advanced": terms packed into boolean groups; "and": one request per term
NEI_QUERY_MAX_LENGTH = 1000  # characters of search_text per request with the advanced operator
NEI_MIN_FISCAL_YEAR = 1985  # lower bound of the fiscal-year ranges when a query is split

# --- file requests (archive inspection) apart from search politeness (http/slots.py) -------
# Where a repository documents a limit for file requests apart from its search limit, they get a
# downloader slot of their own at that rate, in requests per hour (anonymous / with a token; 0 = none).
# guests: 0 = no slot of their own: their 2,000/h overall is hardly above search's 1,714/h at one per
# 2.1 s, so file requests share the search slot (one budget, used by files once search is done)
ZENODO_FILE_REQUESTS_PER_HOUR = 0
ZENODO_FILE_REQUESTS_PER_HOUR_TOKEN = 3200  # with a token: 5,000/h overall minus search (100/min also met)
DRYAD_FILE_REQUESTS_PER_HOUR = 100  # file downloads: 100/hour per IP (files need a token since 2026)
DRYAD_FILE_REQUESTS_PER_HOUR_TOKEN = 100
OSF_FILE_REQUESTS_PER_HOUR = 4500  # file endpoints: 75/min (not the API's 100/hour anonymous throttle)
OSF_FILE_REQUESTS_PER_HOUR_TOKEN = 4500

# --- Dryad / OSF / DataCite: links-following paging (bases/links_paging.py) --------------
# Rates are requests per hour; unless DOWNLOAD_DELAY is given with -s, the spider's delay is
# 3600/rate (the token rate while a token is accepted, the anonymous one after a 401).
DRYAD_PAGE_SIZE = 100  # per_page of /search and /versions/{id}/files (maximum 100)
DRYAD_QUERY_MAX_LENGTH = 400  # characters of `q`; terms are quoted phrases packed into OR-groups
DRYAD_REQUESTS_PER_HOUR = 1800  # anonymous API limit: 30/min
DRYAD_REQUESTS_PER_HOUR_TOKEN = 14300  # with a bearer token: 240/min for all requests, file downloads (100/h) included
OSF_PAGE_SIZE = 100  # page[size] (maximum 100, larger is clamped)
OSF_FILTER_FIELDS = "title,description"  # filter[<fields>]=term (icontains on either field)
OSF_PROVIDERS = ["osfstorage"]  # storage providers whose file trees are walked
OSF_DOI_PREFIX = "10.17605/osf.io"  # OSF DOIs are <prefix>/<guid> [A]: the pattern is claimed for dedup, never put in `doi`
OSF_SORT = "date_created"  # a field that does not move while the crawl pages (the default -modified does)
OSF_REQUESTS_PER_HOUR = 100  # anonymous throttle (non-cookie-auth)
OSF_REQUESTS_PER_HOUR_TOKEN = 416  # authenticated: 10,000/day
DATACITE_PAGE_SIZE = 250  # page[size] (maximum 1000, larger is silently clamped)
DATACITE_RESOURCE_TYPES = ["dataset"]  # resource-type-id values (comma-joined)
DATACITE_QUERY_FIELDS = ["titles.title", "descriptions.description", "subjects.subject"]  # [] = all fields
DATACITE_QUERY_MAX_LENGTH = 1000  # characters of `query` per request (URL-encoded it must stay under URLLENGTH_LIMIT)
DATACITE_REQUESTS_PER_HOUR = 12000  # identified clients (email in User-Agent/mailto): 1000 per 5 min

# --- portal spider: JS-rendered dataset pages in headless Chromium (docs/portal.md) ------
# The browser: "" = Debian's /usr/bin/chromium where it exists; "playwright" = Playwright's own build.
PLAYWRIGHT_CHROMIUM_PATH = os.environ.get("CHROMIUM_PATH", "")
ENVISION_PORTALS: dict = {}  # name -> preset (listing, links, next|button, delay, ...); see pages/portal_presets.py
ENVISION_PORTAL_MAX_PAGES = 50  # listing pages (or button clicks) followed per listing URL
ENVISION_PORTAL_WAIT_TIMEOUT = 10.0  # seconds to wait for a preset's wait_for / listing links to appear

# --- URL ingest: `scrapy crawl url` (docs/url-ingest.md) -----------------------------------
ENVISION_INGEST_URLS = ""  # inputs file (one URL or DOI a line) used without -a url/urls; crawlall runs `url` only when set
ENVISION_DOI_RESOLVER_URL = "https://doi.org"  # DOIs DataCite does not know are resolved here to their landing page

# --- crawling -----------------------------------------------------------------------------
# USER_AGENT is this template filled with ENVISION_CONTACT_EMAIL when a crawl starts
# (middlewares/contact.py ContactAddon); -s USER_AGENT=... replaces it whole.
ENVISION_USER_AGENT = "envision-spiders/0.1 (eye-imaging dataset discovery; mailto:{email})"
ROBOTSTXT_OBEY = False  # APIs; the portal spider obeys robots.txt in its custom_settings
DEFAULT_REQUEST_HEADERS = {"Accept": "application/json", "Accept-Language": "en"}
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 4
# A rate-budget slot (http/slots.py) takes a spider request only while the downloader holds
# fewer than its concurrency + this many for it; the rest wait in the scheduler, so archive
# inspection's file requests in the same slot wait behind a few, not CONCURRENT_REQUESTS.
SCHEDULER_PRIORITY_QUEUE = "envision_spiders.http.budget_queue.BudgetSlotQueue"
ENVISION_BUDGET_SLOT_BACKLOG = 1
# A file request of a budget slot redirected to another origin (a signed S3/GCS URL) goes to a
# slot of that host with this politeness, not the repository's delay (middlewares/slots.py):
# the object store documents no per-client rate, and ranged downloads want a few in flight.
ENVISION_OBJECT_STORE_SLOT = {"delay": 0.0, "jitter": 0, "concurrency": 4}
# Every downloader slot with a delay (the documented rates: a spider's DOWNLOAD_DELAY, budget
# slots) waits this fraction longer between requests (http/margin.py): send jitter of a few ms
# must not take a request under the documented interval (NIH RePORTER blocks an IP above 1/s).
ENVISION_RATE_MARGIN = 0.02
DOWNLOAD_TIMEOUT = 60
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False  # Scrapy's HTTP endpoint that runs Python sent to it (docs/security.md)

# --- network safety (docs/security.md) ------------------------------------------------------
# Certificates are verified (Scrapy's default is not to). Trust a lab proxy's CA with the
# SSL_CERT_FILE environment variable; False turns verification off, with a warning at start.
DOWNLOAD_VERIFY_CERTIFICATES = True
# Only http(s) reach the network: the file, s3 and ftp handlers are off (a record's URL cannot
# read local files; the object store is reached through botocore, not this handler). `data` stays for the empty
# `data:,` request the NEI spider uses to be called back on idle (the fence refuses any other).
DOWNLOAD_HANDLERS = {"file": None, "s3": None, "ftp": None}
# Every request must reach a public address (middlewares/public_hosts.py), redirects included.
ENVISION_FENCE_ENABLED = True
# Host names / networks allowed although private or loopback, e.g. "127.0.0.0/8,localhost" for
# local test servers (the test suite sets the environment variable of the same name).
ENVISION_FENCE_ALLOW = [h.strip() for h in os.environ.get("ENVISION_FENCE_ALLOW", "").split(",") if h.strip()]
LOG_LEVEL = "INFO"
# a dropped item is logged as one line (record and reason), not with the whole item
LOG_FORMATTER = "envision_spiders.pipelines.logformatter.RecordLogFormatter"
# 429/503 are retried with exponential backoff honouring Retry-After (BackoffMiddleware);
# other transient errors keep Scrapy's immediate retries.
RETRY_HTTP_CODES = [500, 502, 504, 522, 524, 408]
RETRY_TIMES = 3
ENVISION_BACKOFF_HTTP_CODES = [429, 503]
ENVISION_BACKOFF_MAX_RETRIES = 6
ENVISION_BACKOFF_BASE_DELAY = 1.0  # seconds; doubles per attempt (with jitter)
ENVISION_BACKOFF_MAX_DELAY = 300.0  # a Retry-After above this is not waited for: the request gives up
# a folder where processes share their pauses per host (set by scrapy download --processes for its processes)
ENVISION_BACKOFF_SHARED_DIR = ""
ENVISION_MALFORMED_RETRIES = 2  # re-fetches of an API page that is not the JSON expected

EXTENSIONS = {
    # masks secrets (AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, URL passwords) in Scrapy's start-up settings line
    "envision_spiders.http.credentials.RedactSecretSettings": 0,
    # log_count/<LEVEL> per crawler, not per process (several crawlers: scrapy crawlall)
    "scrapy.extensions.logcount.LogCount": None,
    "envision_spiders.state.runs.CrawlerLogCount": 0,
    "envision_spiders.exports.stats_file.StatsFile": 500,
    "envision_spiders.state.runs.RunLedger": 510,  # crawl_runs table: the weekly schedule's `since`
    "envision_spiders.progress.extension.CrawlProgress": 490,  # progress lines; before StatsFile so the file has the final figures
    "envision_spiders.http.margin.RateMargin": 0,  # ENVISION_RATE_MARGIN: every slot's delay a little wider
}
# Scrapy 2.19's remote control runs Python code sent to a loopback HTTP port (token in the user's
# profile): not wanted in an unattended crawler. It is left out of the base rather than set to None
# here: Scrapy imports every extension path it is given, None ones too, and that module pulls
# aiohttp's web server (~0.1 s of every command's start-up).
# Scrapy's feed exporter gives way to its subclass that also settles the feeds' delivery (records
# reach the feeds, or stay owed: exports/feeds.py) in the same item_scraped receiver; disable it
# by that name (EXTENSIONS = {"envision_spiders.exports.feeds.DeliveringFeedExporter": None})
_OURS_INSTEAD = {"scrapy.extensions.feedexport.FeedExporter": "envision_spiders.exports.feeds.DeliveringFeedExporter"}
EXTENSIONS_BASE = {_OURS_INSTEAD.get(path, path): order for path, order in _SCRAPY_EXTENSIONS_BASE.items()
                   if path != "scrapy.extensions.remote_control.RemoteControl"}
REMOTE_CONTROL_ENABLED = False
# --- progress (envision_spiders/progress/) ---------------------------------------------------
ENVISION_PROGRESS_INTERVAL = 30.0  # seconds between progress lines (hits, processed/expected, ETA); 0 = off
ENVISION_PROGRESS_LOG = True  # log them (scrapy crawlall on a terminal draws live lines instead)
ENVISION_PROGRESS_LIVE_INTERVAL = 1.0  # scrapy crawlall on a terminal: seconds between redraws (0 = plain lines)

ADDONS = {
    "envision_spiders.middlewares.contact.ContactAddon": 100,  # USER_AGENT from ENVISION_CONTACT_EMAIL
    "scrapy_poet.Addon": 300,
    "envision_spiders.exports.feeds.PortalFeedsAddon": 400,
}
SCRAPY_POET_DISCOVER = ["envision_spiders.pages"]

DOWNLOADER_MIDDLEWARES = {
    "envision_spiders.middlewares.public_hosts.PublicHostsMiddleware": 60,  # before robots.txt (100)
    "envision_spiders.middlewares.backoff.BackoffMiddleware": 560,
    "envision_spiders.middlewares.slots.BudgetSlotMiddleware": 590,  # a redirect off the repository leaves its rate slot
}
SPIDER_MIDDLEWARES = {
    # a request dropped for URL length is an ERROR, not Scrapy's INFO line
    "scrapy.spidermiddlewares.urllength.UrlLengthMiddleware": None,
    "envision_spiders.middlewares.urllength.LoudUrlLengthMiddleware": 800,
    "envision_spiders.middlewares.incremental.IncrementalMiddleware": 960,
    "envision_spiders.middlewares.ingest_trail.IngestTrailMiddleware": 970,  # inert outside `crawl url`
}
ITEM_PIPELINES = {
    "envision_spiders.pipelines.dedup.DedupPipeline": 100,
    "envision_spiders.pipelines.inspect.ArchiveInspectionPipeline": 300,
    "envision_spiders.pipelines.classify.ClassifierPipeline": 400,
    "envision_spiders.pipelines.store.StorePipeline": 800,
    "envision_spiders.pipelines.files.GatedFilesPipeline": 900,  # off unless ENVISION_DOWNLOAD
}
# Dedup: these sources index other repositories' records; a repository-native record of the
# same DOI is canonical over theirs, whichever crawl ran first.
ENVISION_AGGREGATOR_SOURCES = ["datacite"]

# --- archive inspection: ZIP/TAR listings and image headers by HTTP Range (pipelines/inspect.py)
ENVISION_INSPECT_ENABLED = True
ENVISION_INSPECT_MAX_ARCHIVES = 10  # archives inspected per record (the rest: status "skipped")
ENVISION_INSPECT_MAX_REQUESTS = 24  # HTTP requests per archive, redirect hops included
ENVISION_INSPECT_MAX_BYTES = 48 * 1024 * 1024  # body bytes per archive
ENVISION_INSPECT_TAIL_BYTES = 64 * 1024  # first ZIP read: EOCD + comment + ZIP64 records (+ small CDs)
ENVISION_INSPECT_MAX_CD_BYTES = 32 * 1024 * 1024  # larger central directories are listed in part
ENVISION_INSPECT_MAX_ENTRIES = 1_000_000  # entries parsed per archive
ENVISION_INSPECT_SNIFF_COUNT = 8  # image-like entries whose headers are read (0 = no deep sniff)
ENVISION_INSPECT_SNIFF_BYTES = 16 * 1024  # first bytes read (and inflated) per sniffed entry
ENVISION_INSPECT_SNIFF_MERGE_GAP = 4 * 1024  # sniff ranges closer than this are read as one
ENVISION_INSPECT_MULTIRANGE = True  # one multi-range request for the sniffs (falls back per host)
ENVISION_INSPECT_SAMPLE_NAMES = 20  # entry names kept per archive
ENVISION_INSPECT_MAX_FILE_NAMES = 200  # record's file_names: own files + archive samples
ENVISION_INSPECT_TAR_READ_BYTES = 4 * 1024 * 1024  # TAR read-ahead over small members (first read: 64 KiB)
ENVISION_INSPECT_TAR_GAP_BYTES = 1024 * 1024  # TAR members bigger than this are skipped by a new request
ENVISION_INSPECT_STREAM_CHUNK_BYTES = 2 * 1024 * 1024  # tar.gz/bz2/xz: compressed bytes per request
ENVISION_INSPECT_STREAM_PREFIX_BYTES = 8 * 1024 * 1024  # tar.gz/bz2/xz: compressed prefix read at most
ENVISION_INSPECT_STREAM_MAX_OUTPUT = 256 * 1024 * 1024  # decompressed bytes walked at most
ENVISION_INSPECT_CONCURRENCY = 4  # archives inspected at once (bounds memory)
ENVISION_INSPECT_DECOMPRESS_SECONDS = 20.0  # worker-thread time per archive (decompress, walk, sniff)

# --- feeds: every record of the run, and the EYE_IMAGING subset ---------------------------
# The portal's contract (docs/operations.md). PortalFeedsAddon merges ENVISION_FEEDS into FEEDS,
# so `-o/-O` and scrapyd's items_dir (which set FEEDS) add outputs instead of replacing these.
FEED_EXPORT_ENCODING = "utf-8"
# JSON lines (the portal feeds, -o x.jsonl, scrapyd's item files): records written directly (exports/feeds.py)
FEED_EXPORTERS = {
    name: "envision_spiders.exports.feeds.RecordJsonLinesExporter" for name in ("jsonlines", "jsonl", "jl")
}
FEEDS: dict = {}
# A stored record is owed to the feeds until the run's feeds closed with it (state table
# `undelivered`): a record stored by a killed crawl is emitted again by the next one.
ENVISION_FEED_DELIVERY = True
# Local file feeds are flushed and their records marked delivered every N items or S seconds
ENVISION_FEED_DELIVERY_BATCH = 200
ENVISION_FEED_DELIVERY_SECONDS = 1.0
ENVISION_FEEDS = {
    # %(store)s is ENVISION_STORE_URL when set (Scrapy's S3 feed storage), else ENVISION_DATA_DIR
    "%(store)s/feeds/%(name)s/%(time)s.all.jsonl": {
        "format": "jsonlines",
        "uri_params": "envision_spiders.exports.feeds.uri_params",
    },
    "%(store)s/feeds/%(name)s/%(time)s.eye_imaging.jsonl": {
        "format": "jsonlines",
        "uri_params": "envision_spiders.exports.feeds.uri_params",
        "item_filter": "envision_spiders.exports.feeds.EyeImagingFilter",
    },
}

# --- operations: crawlall, scrapyd schedule, portal feed post (docs/operations.md) -------
ENVISION_RUN_LEDGER = True  # record every crawl in the state DB (crawl_runs)
# a run meeting 0 records where the spider's last clean run met at least this many is not
# clean (ends warn, `since` does not advance); 0 turns the check off
ENVISION_EMPTY_RUN_MIN_PREVIOUS = 10
# spider -> setting that must be non-empty for `crawlall`/`schedule` to include it unasked
ENVISION_CRAWLALL_NEEDS = {"portal": "ENVISION_PORTALS", "url": "ENVISION_INGEST_URLS"}
SCRAPYD_URL = "http://127.0.0.1:6800"  # the one scrapyd node when SCRAPYD_URLS is empty
# several nodes (comma or space separated): `scrapy schedule` spreads jobs over them, `scrapy
# status` shows them; basic auth from SCRAPYD_USERNAME/_PASSWORD env, the same on every node
SCRAPYD_URLS: list = []
SCRAPYD_PROJECT = "envision_spiders"
SCRAPYD_TIMEOUT = 15.0  # seconds per call to a node; a node silent that long counts as not answering
SCRAPYD_RETRY_TIMES = 2  # retries of a failed call to a node (backoff 1 s, 2 s, ...) before it is skipped
# settings passed to every scheduled job when set here, so all nodes share state and storage
# (ENVISION_DATA_DIR always goes); a password in a URL is masked in the command's output
ENVISION_SHARED_SETTINGS = ["ENVISION_STATE_URL", "ENVISION_STORE_URL", "FILES_STORE", "AWS_ENDPOINT_URL"]
# seconds a `scrapy schedule` run holds a spider's "schedule" lease (shared state with leases only)
ENVISION_SCHEDULE_LEASE_SECONDS = 120
ENVISION_STATUS_LOG_TAIL_BYTES = 65536  # `scrapy status`: bytes read from the end of a running job's log
ENVISION_SCHEDULE_SETTINGS: dict = {}  # extra K=V settings sent with every scheduled job
ENVISION_SCHEDULE_OVERLAP_DAYS = 1  # `since` = last clean run's start date minus this
ENVISION_SCHEDULE_FALLBACK_DAYS = None  # no clean run yet: None = full crawl, N = N days ago
PORTAL_URL = ""  # the portal's batch endpoint; the PORTAL_URL environment variable wins
PORTAL_BATCH_SIZE = 100  # records per POST
PORTAL_TIMEOUT = 60  # seconds per POST
PORTAL_RETRY_TIMES = 5  # retries of a failed POST (connection error, 408/429/5xx), backoff doubling
PORTAL_RETRY_BASE_DELAY = 1.0  # seconds
PORTAL_RETRY_MAX_DELAY = 60.0  # seconds; a longer Retry-After is capped to this
ENVISION_REPORT_PAGE_ROWS = 100  # `scrapy report`: rows of the EYE_IMAGING table per page (it has a filter box too)

# --- classifier (EYE_IMAGING / NEGATIVE; see docs/classifier.md) --------------------------
# `scrapy canary` (drift detection, docs/operations.md): records asked of each source
ENVISION_CANARY_MAX_RECORDS = 3
CLASSIFIER_ENABLED = True  # False = scrape only: records are stored without label/probabilities
CLASSIFIER_MODEL = ""  # "" = packaged all-MiniLM-L6-v2 (offline); or a local dir / HuggingFace id
CLASSIFIER_HEAD = ""  # "" = packaged head (envision_spiders/classifier/assets/head.json)
CLASSIFIER_BATCH_SIZE = 64  # items scored together by the pipeline
CLASSIFIER_MAX_WAIT = 2.0  # seconds an item waits for its batch to fill
CLASSIFIER_MAX_LENGTH = 32  # encoder tokens per record (the head was trained with this; see docs/classifier.md)
CLASSIFIER_ENCODE_BATCH_SIZE = 32  # texts per encoder forward pass (length-sorted)
CLASSIFIER_THREADS = 2  # torch threads for inference; 0 = torch's default
# int8 dynamic quantisation of the encoder's linear layers: ~1.5x faster, but activation ranges are
# taken per batch, so a record's probability then depends on the records scored with it
CLASSIFIER_QUANTIZE = False

# --- gated downloads (pipelines/files.py, `scrapy download`; see docs/downloads.md) ------
# Files of EYE_IMAGING records with confidence >= threshold, open access only. FILES_STORE,
# when unset, is {ENVISION_DATA_DIR}/downloads.
ENVISION_DOWNLOAD = False  # off: the pipeline raises NotConfigured
ENVISION_DOWNLOAD_THRESHOLD = 0.80
# a confident record is downloaded only when it shows eye evidence a curator could point to
# (eye words, eye names in files, eye DICOM, a device export, eye class folders, a known eye
# dataset, OCT sizes, an OD/OS pair); with left/right in file names alone it waits for review
ENVISION_DOWNLOAD_REQUIRE_EYE_EVIDENCE = True
ENVISION_DOWNLOAD_CHUNK_THRESHOLD = 16 * 1024 * 1024  # bigger (or unknown size): fetched in ranges
ENVISION_DOWNLOAD_CHUNK_SIZE = 8 * 1024 * 1024  # bytes per Range request
ENVISION_DOWNLOAD_RANGES_IN_FLIGHT = 4  # per file; memory ~ chunk size x this x 2
ENVISION_DOWNLOAD_MAX_WHOLE_BODY = 64 * 1024 * 1024  # a server ignoring Range: whole body only up to this
ENVISION_DOWNLOAD_MAX_RECORD_BYTES = 0  # a record with more bytes of open files is skipped (0 = no limit)
ENVISION_DOWNLOAD_MAX_TOTAL_BYTES = 0  # bytes fetched per crawl, reserved record by record (0 = no limit)
ENVISION_DOWNLOAD_CONCURRENCY_PER_HOST = 4  # file requests in flight per host (Scrapy's slot limits apply too)
ENVISION_DOWNLOAD_CONCURRENCY = 16  # file requests in flight overall
ENVISION_DOWNLOAD_PROGRESS_INTERVAL = 10.0  # seconds between a ranged file's own progress lines (0 = off)
# scrapy download: processes sharing the stored records, the request limits divided between them;
# 0 = one per CPU from 500 files to fetch (Scrapy's per-request work fills a core), else one
ENVISION_DOWNLOAD_PROCESSES = 0
ENVISION_DOWNLOAD_RECORDS = ""  # a file of source<TAB>source_id lines: scrapy download takes only these (set by --processes)
# the folder of --processes' shares (set by it): each process claims its records one by one and, done
# with its own share (ENVISION_DOWNLOAD_RECORDS), takes the others' unclaimed ones (downloads/shares.py)
ENVISION_DOWNLOAD_SHARES = ""
ENVISION_DOWNLOAD_REVERIFY = False  # re-hash files already complete before skipping them on a rerun
# scrapy download: records locked (leased) at once, so that other nodes find the rest free; 0 = no bound on
# the embedded state (one machine), ENVISION_DOWNLOAD_CONCURRENCY with a shared ENVISION_STATE_URL
ENVISION_DOWNLOAD_RECORDS_IN_FLIGHT = 0
ENVISION_DOWNLOAD_TAKEOVER_WAIT = 0.0  # scrapy download / a crawl's end: seconds to wait per record another node holds (until it completes or its lease expires, then take it over); 0 = skip it
ENVISION_DOWNLOAD_TAKEOVER_POLL = 5.0  # seconds between looks at the records waited for
# Tokens sent with a source's file requests, archive inspection and gated downloads alike
# (credentials.file_tokens): only to the scheme, host and port of the source's API root; a
# redirect to another origin drops them (Scrapy's RedirectMiddleware). `basic`: two secrets
# sent as HTTP Basic, preferred over `secret` when both are set.
ENVISION_FILE_AUTH = {
    "zenodo": {"secret": "ZENODO_ACCESS_TOKEN", "scheme": "Bearer", "api_url_setting": "ZENODO_API_URL"},
    # Dryad's file downloads answer 401 without a bearer token since 2026 (docs/sources-dryad-osf-datacite.md): set DRYAD_TOKEN
    # without DRYAD_TOKEN, a token is asked for with DRYAD_CLIENT_ID / DRYAD_CLIENT_SECRET (OAuth2 client credentials)
    "dryad": {"secret": "DRYAD_TOKEN", "scheme": "Bearer", "api_url_setting": "DRYAD_API_URL",
              "client_credentials": ["/oauth/token", "DRYAD_CLIENT_ID", "DRYAD_CLIENT_SECRET"]},
    # Kaggle's download route needs the same credentials as its list (the spider's auth)
    "kaggle": {"basic": ["KAGGLE_USERNAME", "KAGGLE_KEY"], "secret": "KAGGLE_API_TOKEN", "scheme": "Bearer",
               "api_url_setting": "KAGGLE_API_URL"},
}
