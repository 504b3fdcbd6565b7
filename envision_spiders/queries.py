"""The shared ophthalmology search terms, and how to pack them into few API calls.

A term with several words means all of its words (AND), as in the seed pipeline; the
terms of one group are OR-ed. ``render_terms(terms, syntax)`` writes a group in an API's
query syntax (a ``QuerySyntax``; the ones the spiders use are below); ``pack_terms`` packs
the terms into as few groups as fit a length limit: of the query, and of the final URL that
carries it (``url_for``), so no group is dropped by Scrapy's ``URLLENGTH_LIMIT``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

SEARCH_TERMS: tuple[str, ...] = (
    # imaging modalities
    "fundus",
    "fundus photography",
    "retinal image",
    "retinal imaging",
    "optical coherence tomography",
    "OCT retina",
    "OCT angiography",
    "OCTA",
    "fluorescein angiography",
    "indocyanine green angiography",
    "scanning laser ophthalmoscopy",
    "adaptive optics retina",
    "slit lamp",
    "anterior segment",
    "corneal topography",
    "corneal confocal microscopy",
    "specular microscopy cornea",
    "meibography",
    "fundus autofluorescence",
    "ultra-widefield",
    "ophthalmic imaging",
    "ophthalmology dataset",
    "eye image",
    "retina",
    "retinal vessel segmentation",
    "optic disc",
    "macula",
    "choroid",
    "cornea",
    # diseases
    "diabetic retinopathy",
    "glaucoma",
    "age-related macular degeneration",
    "macular edema",
    "retinopathy of prematurity",
    "retinal detachment",
    "retinitis pigmentosa",
    "keratoconus",
    "cataract",
    "uveitis",
    "myopia",
    "dry eye",
    "strabismus",
    "drusen",
    "geographic atrophy",
    "papilledema",
    "retinal vein occlusion",
    "ocular surface",
)


_PLAIN_WORD = re.compile(r"\w+")


def split_words(term: str) -> list[str]:
    return [w for w in term.split() if w]


@dataclass(frozen=True)
class QuerySyntax:
    """How one API writes "all words of a term, any term of a group".

    ``phrase``: a term is one quoted phrase instead of its words AND-ed (Figshare, Dryad).
    ``quote_words``: each word in double quotes (with ``phrase``: single-word terms quoted too;
    without, a term that is one plain word stays bare). ``fields``: the group is searched in each of
    these fields (``field:(group)`` OR-ed); empty: all fields. Double quotes inside terms are
    dropped. A syntax is callable: ``syntax(terms)`` is ``render_terms(terms, syntax)``.
    """

    phrase: bool = False
    quote_words: bool = True
    fields: tuple[str, ...] = ()

    def __call__(self, terms: list[str]) -> str:
        return render_terms(terms, self)


def render_terms(terms: Iterable[str], syntax: QuerySyntax) -> str:
    """One OR-group of ``terms`` in ``syntax``."""
    def word(w: str) -> str:
        w = w.replace('"', "")
        return f'"{w}"' if syntax.quote_words else w

    def phrase(t: str) -> str:
        t = t.replace('"', "").strip()
        return f'"{t}"' if syntax.quote_words or not _PLAIN_WORD.fullmatch(t) else t

    if syntax.phrase:
        group = " OR ".join(phrase(term) for term in terms)
    else:
        group = " OR ".join("(" + " AND ".join(word(w) for w in split_words(t)) + ")" for t in terms)
    if not syntax.fields:
        return group
    return " OR ".join(f"{name}:({group})" for name in syntax.fields)


# Zenodo and DataCite (Elasticsearch query strings): words quoted and AND-ed, terms OR-ed.
QUERY_STRING = QuerySyntax()
# Figshare ``search_for``: each term a quoted phrase, terms OR-ed.
PHRASES = QuerySyntax(phrase=True)
# NIH RePORTER ``advanced`` text search: words AND-ed unquoted, terms OR-ed.
BOOLEAN_WORDS = QuerySyntax(quote_words=False)
# Dryad ``q`` (Solr edismax, mm=2<-1 5<-2 6<90%: unquoted, 3-5 words match any n-1 of them):
# a term of several words (or with punctuation) a quoted phrase, terms OR-ed.
SOLR_PHRASES = QuerySyntax(phrase=True, quote_words=False)


def group_terms(
    terms: Iterable[str],
    render: Callable[[list[str]], str],
    max_length: int,
    url_for: Callable[[list[str]], str] | None = None,
    max_url_length: int = 0,
) -> list[list[str]]:
    """Greedily pack terms into as few groups as fit once rendered.

    ``render`` turns a list of terms into the API's query string (a ``QuerySyntax``); a group
    fits when that is at most ``max_length`` characters and, with ``url_for``, when the final
    encoded URL of the group's longest request (every filter, date window and page/cursor
    parameter the crawl may add) is at most ``max_url_length`` (Scrapy's ``URLLENGTH_LIMIT``:
    longer requests are dropped). A single term that does not fit still gets a group of its
    own (the request is then dropped with an error, not silently).
    """

    def fits(group: list[str]) -> bool:
        if len(render(group)) > max_length:
            return False
        return url_for is None or not max_url_length or len(url_for(group)) <= max_url_length

    groups: list[list[str]] = []
    current: list[str] = []
    for term in terms:
        candidate = current + [term]
        if current and not fits(candidate):
            groups.append(current)
            current = [term]
        else:
            current = candidate
    if current:
        groups.append(current)
    return groups


def pack_terms(
    terms: Iterable[str],
    render: Callable[[list[str]], str],
    max_length: int,
    url_for: Callable[[list[str]], str] | None = None,
    max_url_length: int = 0,
) -> list[str]:
    """The groups of ``group_terms``, rendered."""
    return [render(group) for group in group_terms(terms, render, max_length, url_for, max_url_length)]



# The other grammatical number of the words of SEARCH_TERMS that have one in use, for APIs that
# match whole words without stemming (NIH RePORTER: "retinal image" does not find "retinal
# images"). Words not listed (adjectives, mass nouns, names of methods) have one form only.
OTHER_NUMBER: dict[str, str] = {
    "image": "images", "dataset": "datasets", "eye": "eyes", "vessel": "vessels", "segment": "segments",
    "disc": "discs", "lamp": "lamps", "cataract": "cataracts", "detachment": "detachments",
    "occlusion": "occlusions", "vein": "veins", "surface": "surfaces", "retina": "retinas", "cornea": "corneas",
    "macula": "maculae", "choroid": "choroids", "fundus": "fundi", "retinopathy": "retinopathies",
    "drusen": "druse",
}
_NUMBER_FORMS = {**OTHER_NUMBER, **{other: word for word, other in OTHER_NUMBER.items()}}


def number_variants(terms: Iterable[str]) -> list[str]:
    """Each term followed by its variants with any of its words in the other number
    (``OTHER_NUMBER``): ``["eye image"]`` -> ``["eye image", "eye images", "eyes image", "eyes images"]``."""
    out: list[str] = []
    for term in terms:
        variants = [""]
        for word in split_words(term):
            forms = [word] + ([_NUMBER_FORMS[word.lower()]] if word.lower() in _NUMBER_FORMS else [])
            variants = [f"{v} {f}".strip() for v in variants for f in forms]
        out.extend(v for v in variants if v not in out)
    return out
