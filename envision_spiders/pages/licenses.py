"""Licence spellings -> one lower-case identifier (SPDX-like, as Zenodo gives them: ``cc-by-4.0``).

Repositories give a licence as an SPDX URL (Dryad), a Creative Commons URL, an SPDX id
(DataCite ``rightsIdentifier``) or a display name (Figshare ``CC BY 4.0``, OSF
``CC-By Attribution 4.0 International``). ``license_id`` takes any of them. Pure functions.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_SPDX_URL = re.compile(r"^/licenses/([A-Za-z0-9.+-]+?)(?:\.html|\.json)?/?$")
_CC_URL = re.compile(r"^/licenses/([a-z-]+)/(\d\.\d)(?:/[a-z]{2})?(?:/legalcode.*|/deed.*)?/?$")
_CC_ZERO = re.compile(r"^/publicdomain/zero/(\d\.\d)")
_OSI_URL = re.compile(r"^/licenses?/([A-Za-z0-9.+-]+?)(?:\.php|\.html)?/?$")
_CC_NAME = re.compile(r"^cc[\s-]*(by(?:[\s-]+(?:nc|sa|nd|noncommercial|sharealike|noderivs|noderivatives))*)[\s-]+(\d\.\d)$")
_NOISE = re.compile(r"\b(?:attribution|international|generic|unported|license|licence)\b")
_NAMES = {"mit": "mit", "apache 2.0": "apache-2.0", "apache license 2.0": "apache-2.0",
          "gpl 3.0": "gpl-3.0", "gpl 2.0": "gpl-2.0", "bsd 3-clause": "bsd-3-clause", "bsd 2-clause": "bsd-2-clause",
          "odc-by 1.0": "odc-by-1.0", "odbl 1.0": "odbl-1.0", "pddl 1.0": "pddl-1.0"}
_CC_ZERO_NAME = re.compile(r"^cc[\s-]?0(?:[\s-]+(1\.0))?(?:\s+universal)?$|^cc[\s-]?zero$")
_ID = re.compile(r"^[a-z0-9][a-z0-9.+-]*$")
_CC_PARTS = {"noncommercial": "nc", "sharealike": "sa", "noderivs": "nd", "noderivatives": "nd"}


def _from_url(url: str) -> str | None:
    parts = urlsplit(url)
    host = parts.netloc.lower().removeprefix("www.")
    path = parts.path
    if host == "spdx.org" and (m := _SPDX_URL.match(path)):
        return m.group(1).lower()
    if host == "creativecommons.org":
        if m := _CC_URL.match(path):
            return f"cc-{m.group(1)}-{m.group(2)}"
        if m := _CC_ZERO.match(path):
            return f"cc0-{m.group(1)}"
    if host == "opensource.org" and (m := _OSI_URL.match(path)):
        return m.group(1).lower()
    return None


def _from_name(name: str) -> str | None:
    lowered = " ".join(name.lower().split())
    if m := _CC_ZERO_NAME.match(lowered):
        return f"cc0-{m.group(1) or '1.0'}"
    bare = " ".join(_NOISE.sub(" ", lowered).replace("non-commercial", "noncommercial")
                    .replace("share-alike", "sharealike").replace("no-derivatives", "noderivatives").split())
    if bare in _NAMES:
        return _NAMES[bare]
    if m := _CC_NAME.match(bare):
        parts = re.split(r"[\s-]+", m.group(1))
        parts = [_CC_PARTS.get(p, p) for p in parts]
        return "cc-" + "-".join(parts) + f"-{m.group(2)}"
    if _ID.match(lowered):
        return lowered
    return None


def license_id(value: str | None) -> str | None:
    """An identifier from an id, a licence URL or a display name; a name we cannot map is kept
    as given (a licence we cannot name is still worth showing); None when empty."""
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    if value.lower().startswith(("http://", "https://")):
        return _from_url(value) or value
    return _from_name(value) or value
