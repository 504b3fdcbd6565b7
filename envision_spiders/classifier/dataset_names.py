"""Known public image dataset names: world knowledge the sentence encoder lacks.

Terse titles such as ``RFMiD``, ``ORIGA-light`` or ``DUKE-DME`` say nothing to a small encoder;
a reader who knows the field sees eye-imaging datasets at once. ``assets/dataset_names.txt``
lists such names (eye imaging, and medical-looking datasets that are not of the eye: ISIC,
CheXpert, BraTS...). :func:`known_dataset_kinds` tells which kinds of known name a record's
title, keywords, file names and archive names carry. Pure apart from reading the packaged list
once.

Matching is by whole token sequences after normalisation -- case, accents, punctuation,
hyphens and underscores, letter/digit boundaries (``OCTA-500`` = ``octa_500`` = ``OCTA500``), the
joined form of a multi-word name too (``RIMONE``) -- never by substring, so a version suffix
(``RFMiD 2.0``, ``REFUGE2_v3``) does not hide a name and ``DRIVE`` is not found in
``drive-thru``. Names that are English words count only in upper case or next to "dataset",
"database", "db", "challenge" or "benchmark"; the list marks them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files

EYE, OTHER = "eye", "other"
_TOKEN_RE = re.compile(r"[A-Za-z]+|\d+")
_CONTEXT_WORDS = frozenset({"dataset", "datasets", "database", "databases", "db", "challenge", "benchmark"})
# a short all-capitals title ("STARE", "DRIVE DB") is an acronym, not shouting
_SHORT_PIECE = 3


@dataclass(frozen=True)
class Spelling:
    tokens: tuple[str, ...]  # lower case
    kind: str  # EYE or OTHER
    rule: str  # "plain", "upper" (an English word: as spelled or upper case, or context) or "context"
    cased: tuple[str, ...] = ()  # the tokens as the list spells them ("KiTS")


def tokens_of(text: str) -> list[str]:
    """``Chákṣu_v2`` -> ``['Chaksu', 'v', '2']``: accents dropped, split at anything that is not a
    letter or digit and at letter/digit boundaries; case kept."""
    plain = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    return _TOKEN_RE.findall(plain)


def parse_names(lines: Iterable[str]) -> list[Spelling]:
    """The spellings of a names list (format: ``assets/dataset_names.txt``)."""
    spellings: list[Spelling] = []
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        kind, _, rest = (part.strip() for part in line.partition("|"))
        if kind not in (EYE, OTHER) or not rest:
            raise ValueError(f"dataset names line {number}: expected 'eye | name | ...' or 'other | name | ...'")
        for raw in rest.split("|"):
            raw = raw.strip()
            rule = {"~": "upper", "!": "context"}.get(raw[:1], "plain")
            cased = tuple(tokens_of(raw.lstrip("~!")))
            if not cased:
                continue
            spellings.append(Spelling(tuple(t.lower() for t in cased), kind, rule, cased))
            joined = tuple(tokens_of("".join(cased)))
            if joined != cased:  # "RIM-ONE" also as "RIMONE", "ORIGA-light" as "ORIGAlight"
                spellings.append(Spelling(tuple(t.lower() for t in joined), kind, rule, joined))
    return spellings


class NameIndex:
    """Spellings indexed by their first token."""

    def __init__(self, spellings: Iterable[Spelling]) -> None:
        self._by_first: dict[str, list[Spelling]] = {}
        for spelling in spellings:
            self._by_first.setdefault(spelling.tokens[0], []).append(spelling)
        for group in self._by_first.values():
            group.sort(key=lambda s: -len(s.tokens))

    def kinds_in(self, text: str) -> set[str]:
        """The kinds (EYE / OTHER) of the known names that ``text`` (one title, keyword or file
        name) carries."""
        original = tokens_of(text)
        lower = [t.lower() for t in original]
        shouting = len(original) > _SHORT_PIECE and not any(c.islower() for c in text)
        found: set[str] = set()
        for i, token in enumerate(lower):
            for spelling in self._by_first.get(token, ()):
                end = i + len(spelling.tokens)
                if tuple(lower[i:end]) != spelling.tokens:
                    continue
                if spelling.rule != "plain":
                    context = (i > 0 and lower[i - 1] in _CONTEXT_WORDS) or (end < len(lower) and lower[end] in _CONTEXT_WORDS)
                    matched = tuple(original[i:end])
                    # as spelled when the spelling has its own case ("KiTS"), else upper case in a
                    # title that is not all capitals
                    upper = (matched == spelling.cased and not "".join(matched).isupper()) or (
                        not shouting and all(t.isupper() for t in matched if t.isalpha())
                    )
                    if not (context or (spelling.rule == "upper" and upper)):
                        continue
                found.add(spelling.kind)
                break
        return found


@lru_cache(maxsize=1)
def packaged_index() -> NameIndex:
    text = files("envision_spiders.classifier").joinpath("assets/dataset_names.txt").read_text(encoding="utf-8")
    return NameIndex(parse_names(text.splitlines()))


def known_dataset_kinds(pieces: Iterable[str], index: NameIndex | None = None) -> set[str]:
    """The kinds of known dataset names found in any of ``pieces`` (title, keywords, file and
    archive entry names), each matched on its own."""
    index = index or packaged_index()
    found: set[str] = set()
    for piece in pieces:
        if piece:
            found |= index.kinds_in(piece)
            if len(found) == 2:
                break
    return found
