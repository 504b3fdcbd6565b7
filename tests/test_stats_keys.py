"""Stats keys follow one rule (docs/stats.md): ``envision/<topic>/<event>[/<detail>]``, no
spider name, and every key the package writes is listed in docs/stats.md."""

from __future__ import annotations

import ast
import fnmatch
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "envision_spiders"
SPIDER_NAME = re.compile(r"\{(self|spider|self\.crawler\.spider)\.name\}")


def keys_in_package() -> dict[str, list[str]]:
    """{key with ``*`` for each f-string placeholder: [files]} for every ``envision/...`` literal."""
    found: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        parts_of_fstrings = {id(v) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for v in node.values}
        for node in ast.walk(tree):
            if isinstance(node, ast.JoinedStr):
                key = "".join(
                    v.value if isinstance(v, ast.Constant) else "{" + ast.unparse(v.value) + "}" for v in node.values
                )
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in parts_of_fstrings:
                key = node.value
            else:
                continue
            if key.startswith("envision/") and "\n" not in key and " " not in key:
                found.setdefault(key, []).append(str(path.relative_to(ROOT)))
    return found


def wildcard(key: str) -> str:
    return re.sub(r"\{[^}]*\}", "*", key)


def documented_keys() -> list[str]:
    """Keys in docs/stats.md, ``<...>`` as ``*``; ``…/event`` after a key is a sibling of that key."""
    keys = []
    for line in (ROOT / "docs" / "stats.md").read_text(encoding="utf-8").splitlines():
        last = None
        for token in re.findall(r"`([^`]*)`", line):
            if token.startswith("envision/"):
                last = token
            elif token.startswith("…/") and last:
                token = last.rsplit("/", 1)[0] + token[1:]
            else:
                continue
            keys.append(re.sub(r"<[^>]*>|…", "*", token))
    return keys


def is_documented(key: str, documented: list[str]) -> bool:
    prefix = key.rstrip("/") + "/"  # a key the code also appends to (get_retry_request's base)
    concrete = key.replace("*", "x")
    return any(
        d.startswith(prefix) or fnmatch.fnmatchcase(concrete, d) or fnmatch.fnmatchcase(d.replace("*", "x"), key)
        for d in documented
    )


def test_the_package_writes_stats_keys():
    assert len(keys_in_package()) > 50  # the scan finds them


def test_every_stats_key_is_listed_in_docs_stats_md():
    documented = documented_keys()
    missing = {wildcard(k): files for k, files in keys_in_package().items() if not is_documented(wildcard(k), documented)}
    assert not missing, f"add these keys to docs/stats.md: {missing}"


def test_every_stats_key_has_the_topic_event_shape():
    shape = re.compile(r"^envision/[a-z_]+(/[a-z0-9_*]*)*$")
    bad = {k: files for k, files in keys_in_package().items()
           if not shape.match(wildcard(k)) and not SPIDER_NAME.search(k)}  # those: the test below
    assert not bad


def test_no_stats_key_names_the_spider():
    named = {k: files for k, files in keys_in_package().items() if SPIDER_NAME.search(k)}
    assert not named
