"""Shared parts of the page objects: JSON access with clear errors, and the fields every
record derives from its file list (the portal's counts)."""

from __future__ import annotations

import functools
import inspect
import json
import re
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import attrs
from w3lib.html import remove_tags, replace_entities
from web_poet import WebPage, field
from web_poet.fields import get_fields_dict
from web_poet.pages import Extractor, get_item_cls

from envision_spiders.inspection.kinds import summarise_files
from envision_spiders.items import DatasetRecord, FileEntry


class MalformedPage(ValueError):
    """An API answer that is not the JSON shape its page object expects."""

    def __init__(self, url: str, status: int, problem: str, body: bytes | str = b"") -> None:
        snippet = body[:200] if isinstance(body, str) else body[:200].decode("utf-8", "replace")
        super().__init__(f"{problem} (HTTP {status} from {url}): {snippet!r}")
        self.url, self.status, self.problem = url, status, problem


MethodT = TypeVar("MethodT", bound=Callable[[Any], Any])


def memo(method: MethodT) -> MethodT:
    """A page object's zero-argument method computed once per page object (its value kept in the
    instance's ``__dict__``). Use it where web-poet offers ``cached_method`` and
    ``@field(cached=True)`` (write ``@field`` over ``@memo``): those build an ``lru_cache`` per
    page object and method, which cost more than most fields of a search hit.

    A memoized ``@field`` of a class whose fields are plain (``RecordExtractor.to_item``'s fast
    path: no processors) also keeps its value under the field's own name: the instance's
    ``__dict__`` comes before web-poet's field descriptor (it defines no ``__set__``), so other
    fields reading ``self.files`` or ``self.url`` get the value without web-poet's per-access
    wrapper (~1.5 µs each, a dozen times a record)."""
    if inspect.iscoroutinefunction(method):
        raise TypeError(f"@memo is for plain methods, not coroutines: {method.__qualname__}")
    name = method.__name__
    key = f"_memo_{name}"
    shadows: dict[type, bool] = {}  # per class: whether the value may stand in for the field

    @functools.wraps(method)
    def cached(self: Any) -> Any:
        values = self.__dict__
        if key in values:  # not try/except: every first call would raise and catch a KeyError (~1 µs)
            return values[key]
        value = values[key] = method(self)
        cls = type(self)
        if cls not in shadows:
            plain = _plain_field_methods(cls) if issubclass(cls, RecordExtractor) else None
            shadows[cls] = plain is not None and dict(plain).get(name) is cached
        if shadows[cls]:
            values[name] = value
        return value

    return cached  # type: ignore[return-value]


def json_body(response: Any, expect: type = dict) -> Any:
    """The response's JSON (web-poet HttpResponse or Scrapy Response), or MalformedPage."""
    body = response.body
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedPage(str(response.url), response.status, f"invalid JSON: {exc}", body) from None
    if not isinstance(data, expect):
        raise MalformedPage(
            str(response.url), response.status, f"expected a JSON {expect.__name__}", body
        )
    return data


_SIZE = re.compile(r"^\s*([0-9][0-9,]*(?:\.[0-9]+)?)\s*([a-z]*)\s*$", re.IGNORECASE)
_UNITS = {
    "": 1, "b": 1, "byte": 1, "bytes": 1,
    "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12, "pb": 10**15,
    "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40, "pib": 2**50,
}


def parse_size(value: Any) -> int | None:
    """``"1.2 GB"`` -> 1200000000, ``"512 KiB"`` -> 524288, ``"2048"``/2048 -> 2048 bytes.
    KB/MB/GB are decimal (SI), KiB/MiB/GiB binary; None when unreadable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value) if value >= 0 else None
    if not isinstance(value, str):
        return None
    match = _SIZE.match(value)
    if not match:
        return None
    unit = _UNITS.get(match.group(2).lower())
    if unit is None:
        return None
    return round(float(match.group(1).replace(",", "")) * unit)


_SPACES = re.compile(r"\s+")


def html_to_text(value: str | None) -> str:
    """Descriptions arrive as HTML: plain text, entities decoded, whitespace collapsed."""
    if not value:
        return ""
    text = remove_tags(value.replace("<br>", "\n").replace("</p>", "</p>\n"))
    return _SPACES.sub(" ", replace_entities(text)).strip()


def strings(values: Any) -> list[str]:
    """A clean list of non-empty strings from whatever the API gave (None, str, list)."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    out = []
    for value in values:
        if isinstance(value, str) and value.strip():
            out.append(value.strip())
    return out


@attrs.define
class RecordExtractor(Extractor[DatasetRecord], skip_nonitem_fields=False):
    """Base of the per-source record extractors. Subclasses provide ``files`` and the
    descriptive fields; the portal's counts and ``size_mb`` are derived here once."""

    data: dict[str, Any]

    source_name: ClassVar[str] = ""  # the records' `source` (= the spider's name)
    id_key: ClassVar[str] = "id"  # the API field that is the record's `source_id`

    async def to_item(self) -> DatasetRecord:
        """The record of the ``@field``s, as web-poet's ``to_item`` builds it, computed by calling
        each field's method directly: web-poet's per-field wrappers and per-field coroutines
        cost about as much as the extraction itself for a search hit, and a search page holds
        a hundred of them. Classes whose fields need web-poet's machinery (processors,
        coroutine fields) go through it."""
        methods = _plain_field_methods(type(self))
        if methods is None:
            return await super().to_item()
        return _record_class(type(self))(**{name: method(self) for name, method in methods})

    @field
    def source(self) -> str:
        return self.source_name

    @field
    def source_id(self) -> str:
        return str(self.data[self.id_key])

    @property
    def files(self) -> list[FileEntry]:  # overridden by a @field in subclasses
        return []

    @memo
    def _summary(self) -> dict[str, Any]:
        return summarise_files([f["name"] for f in self.files])

    @field
    def file_names(self) -> list[str]:
        return [f["name"] for f in self.files]

    @field
    def file_types(self) -> list[str]:
        return self._summary()["file_types"]

    @field
    def file_count(self) -> int:
        return self._summary()["file_count"]

    @field
    def img_count(self) -> int:
        return self._summary()["img_count"]

    @field
    def medical_count(self) -> int:
        return self._summary()["medical_count"]

    @field
    def archive_count(self) -> int:
        return self._summary()["archive_count"]

    @field
    def genomics_count(self) -> int:
        return self._summary()["genomics_count"]

    @field
    def size_mb(self) -> float | None:
        sizes = [f.get("size") for f in self.files]
        if not sizes or any(s is None for s in sizes):
            known = [s for s in sizes if s is not None]
            return round(sum(known) / 1e6, 3) if known else None
        return round(sum(sizes) / 1e6, 3)


@functools.cache
def _record_class(cls: type) -> type:
    return get_item_cls(cls, default=dict)


@functools.cache
def _plain_field_methods(cls: type) -> tuple[tuple[str, Callable[[Any], Any]], ...] | None:
    """(name, method) of every ``@field`` of ``cls`` when each is a plain method with no
    processors (its value is the method's value), else None."""
    if hasattr(cls, "Processors") or getattr(cls, "_skip_nonitem_fields", False) is True:
        return None
    methods = []
    for name, info in get_fields_dict(cls).items():
        method = getattr(getattr(cls, name, None), "original_method", None)
        if info.out is not None or method is None or inspect.iscoroutinefunction(method):
            return None
        methods.append((name, method))
    return tuple(methods)


@attrs.define
class JsonArrayPage(WebPage):
    """An API page that is a bare JSON array with no paging metadata (Figshare search, Kaggle
    list). ``count`` is every entry, readable or not (a short page is the last one);
    ``entries()`` the readable ones and a description of each other. Subclasses override
    ``problem(entry)``."""

    @memo
    def _items(self) -> list[Any]:
        return json_body(self.response, expect=list)

    @property
    def count(self) -> int:
        return len(self._items())

    def problem(self, entry: Any) -> str | None:
        """Why ``entry`` cannot be used, or None."""
        return None if isinstance(entry, dict) else "not an object"

    def entries(self) -> tuple[list[dict[str, Any]], list[str]]:
        good, problems = [], []
        for n, entry in enumerate(self._items()):
            problem = self.problem(entry)
            if problem:
                problems.append(f"entry {n}: {problem}")
            else:
                good.append(entry)
        return good, problems
