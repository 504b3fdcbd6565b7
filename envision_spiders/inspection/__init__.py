"""Pure byte-level readers: bytes in, facts out, no I/O.

``zip`` (end records, ZIP64, central directory, local headers), ``tar`` (ustar, GNU, pax),
``gzip_prefix`` (bounded streaming decompression), ``sniff`` (image / volume / video headers),
``httprange`` (Range / Content-Range / multipart), ``listing`` (bounded entry summaries),
``kinds`` (file kinds and the portal counts).
"""
