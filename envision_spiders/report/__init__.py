"""The composition report: a static, self-contained HTML site about what the crawls found.

What enters: the catalog (``envision_spiders.catalog``; ``scrapy report`` brings it up to date
first), the previous report's ``summary.json`` (to show what changed), the download manifests.
What leaves: ``{ENVISION_DATA_DIR}/report/index.html`` (totals by source and label and their
change, the composition of the EYE_IMAGING records as inline SVG charts, a sortable table) and
one ``cards/*.html`` page per EYE_IMAGING record; no script, style or font from elsewhere, so
it opens from the file system with no network. Who calls it: the ``scrapy report`` command.
"""

from envision_spiders.report.site import ReportSummary, write_report

__all__ = ["ReportSummary", "write_report"]
