"""Archive inspection: pure byte-level readers, and the drivers that feed them ranged reads.

Pure readers (bytes in, facts out, no I/O): ``zip`` (end records, ZIP64, central directory,
local headers), ``tar`` (ustar, GNU, pax), ``gzip_prefix`` (bounded streaming decompression),
``sniff`` (image / volume / video headers), ``listing`` (bounded entry summaries), ``kinds``
(file kinds and the portal counts), ``errors``. Around them: ``config`` (``ENVISION_INSPECT_*``
read once), ``report`` (the ``archive_contents`` entry) and ``drivers`` (one per format, over
``http.ranges.RangeReader``), used by ``pipelines/inspect.py``.
"""
