"""Collect the report's numbers from the catalog and write the HTML pages."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Collection
from dataclasses import asdict, dataclass
from html import escape
from pathlib import Path
from typing import Any

from envision_spiders.catalog import connect
from envision_spiders.classifier.features import FEATURE_NAMES, evidence_features
from envision_spiders.downloads.gate import EYE_IMAGING, file_gate, held_for_review, record_gate
from envision_spiders.downloads.manifest import MANIFEST_NAME, load_manifest
from envision_spiders.downloads.paths import record_dir_name
from envision_spiders.items import record_owner
from envision_spiders.jsoncodec import write_json_atomic
from envision_spiders.report.charts import bar_chart, human_bytes

REPORT_DIR = "report"
SUMMARY_FILE = "summary.json"
UNLABELLED = "(no label)"

# imaging modality and anatomy named in a record's title, keywords or file names
MODALITY_TERMS = {
    "OCT": r"\boct\b|optical coherence tomograph",
    "OCT angiography": r"\bocta\b|oct[- ]angiograph",
    "fundus photography": r"\bfundus\b",
    "fluorescein / ICG angiography": r"fluorescein|indocyanine|\bicg\b|\bffa\b",
    "slit lamp": r"slit[- ]?lamp",
    "corneal topography": r"topograph|pentacam|keratometr",
    "adaptive optics / SLO": r"adaptive optics|\bslo\b|scanning laser ophthalmoscop",
}
ANATOMY_TERMS = {
    "retina": r"retin", "macula": r"macul", "optic disc / nerve": r"optic (disc|disk|nerve)",
    "cornea": r"cornea", "lens": r"\blens\b|cataract", "anterior segment": r"anterior segment",
    "choroid": r"choroid",
}
SIZE_BUCKETS = ((256, "< 256 px"), (512, "256–511 px"), (1024, "512–1023 px"), (2048, "1024–2047 px"),
                (4096, "2048–4095 px"), (float("inf"), "≥ 4096 px"))
BYTE_BUCKETS = ((10**6, "< 1 MB"), (10**7, "1–10 MB"), (10**8, "10–100 MB"), (10**9, "100 MB–1 GB"),
                (10**10, "1–10 GB"), (float("inf"), "≥ 10 GB"))

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1180px;color:#1d2430;padding:0 16px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #d8dee8}
table{border-collapse:collapse;margin:8px 0}th,td{padding:3px 8px;border-bottom:1px solid #e6e9ef;text-align:left}
td.n,th.n{text-align:right}th.sort{cursor:pointer;user-select:none}th.sort:after{content:" \\2195";color:#8a94a6}
.charts{display:flex;flex-wrap:wrap;gap:18px}.chart{margin:0}figcaption{font-weight:600;margin-bottom:4px}
svg text{font:12px system-ui,sans-serif;fill:#1d2430}svg text.v{fill:#4a5568}.empty{color:#8a94a6}
.up{color:#16794a}.down{color:#b42318}.muted{color:#6b7280}code{font-size:12px}
"""
SORT_SCRIPT = """
document.querySelectorAll("table.sortable th.sort").forEach(function(th){th.addEventListener("click",function(){
var table=th.closest("table"),i=Array.prototype.indexOf.call(th.parentNode.children,th),body=table.tBodies[0];
var asc=th.dataset.dir!=="asc";th.parentNode.querySelectorAll("th").forEach(function(h){delete h.dataset.dir});
th.dataset.dir=asc?"asc":"desc";var rows=Array.prototype.slice.call(body.rows);
rows.sort(function(a,b){var x=a.cells[i].dataset.v,y=b.cells[i].dataset.v;var nx=parseFloat(x),ny=parseFloat(y);
var c=(!isNaN(nx)&&!isNaN(ny))?nx-ny:String(x).localeCompare(String(y));return asc?c:-c});
rows.forEach(function(r){body.appendChild(r)});table.dispatchEvent(new Event("sorted"))})});
"""
# the EYE_IMAGING table: a text filter over every cell and pages of data-page-rows rows
PAGE_SCRIPT = """
(function(){var t=document.getElementById("eye");if(!t)return;var body=t.tBodies[0],size=+t.dataset.pageRows||100,
page=0,f=document.getElementById("eye-filter"),shown=document.getElementById("eye-shown"),
prev=document.getElementById("eye-prev"),next=document.getElementById("eye-next");
function render(){var q=f.value.trim().toLowerCase(),all=Array.prototype.slice.call(body.rows);
var hits=all.filter(function(r){return !q||r.textContent.toLowerCase().indexOf(q)>=0});
var pages=Math.max(1,Math.ceil(hits.length/size));page=Math.max(0,Math.min(page,pages-1));
all.forEach(function(r){r.hidden=true});hits.slice(page*size,(page+1)*size).forEach(function(r){r.hidden=false});
shown.textContent=hits.length?(page*size+1)+"\u2013"+Math.min(hits.length,(page+1)*size)+" of "+hits.length+
(q?" matching (of "+all.length+")":""):"none of "+all.length+" match";prev.disabled=page===0;next.disabled=page>=pages-1}
f.addEventListener("input",function(){page=0;render()});prev.addEventListener("click",function(){page-=1;render()});
next.addEventListener("click",function(){page+=1;render()});t.addEventListener("sorted",function(){page=0;render()});
render()})();
"""
CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"


@dataclass
class ReportSummary:
    report: str
    records: int
    eye_imaging: int
    cards: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def card_name(key: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", key)[:80]
    return f"{slug}-{hashlib.sha1(key.encode()).hexdigest()[:8]}.html"


def _size(record: dict[str, Any]) -> int:
    return sum(f["size"] for f in record.get("files") or [] if isinstance(f, dict) and _is_int(f.get("size")))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _images(record: dict[str, Any]) -> list[dict[str, Any]]:
    return [i for a in record.get("archive_contents") or [] if isinstance(a, dict)
            for i in a.get("images") or [] if isinstance(i, dict)]


def _bucket(value: float, buckets: tuple[tuple[float, str], ...]) -> str:
    return next(label for bound, label in buckets if value < bound)


def _terms(record: dict[str, Any], table: dict[str, str]) -> set[str]:
    text = " ".join([str(record.get("title") or ""), *map(str, record.get("keywords") or []),
                     *(str(f.get("name")) for f in record.get("files") or [] if isinstance(f, dict))]).lower()
    return {name for name, pattern in table.items() if re.search(pattern, text)}


def collect(
    conn: sqlite3.Connection, threshold: float, eye_evidence_required: bool = True,
    accepted: Collection[tuple[str, str]] = frozenset(),
) -> dict[str, Any]:
    """Every number the report shows, from the catalog (``accepted``: records a curator accepted
    after review, the state's ``accepted_for_download``: they pass the gate, not held)."""
    totals: dict[str, Counter] = defaultdict(Counter)
    eye: list[dict[str, Any]] = []
    comp = {name: Counter() for name in ("modality_terms", "anatomy", "dicom_modality", "dicom_body_part",
                                          "image_format", "dims", "image_size", "license", "dataset_bytes")}
    total_bytes = gated_bytes = gated_records = accepted_records = 0
    for key, source, label, text in conn.execute("SELECT key, source, label, record_json FROM records ORDER BY key"):
        totals[source][label or UNLABELLED] += 1
        if label != EYE_IMAGING:
            continue
        record = json.loads(text)
        images = _images(record)
        size = _size(record)
        total_bytes += size
        gate = record_gate(record, threshold, eye_evidence_required)
        if held_for_review(gate) and record_owner(record) in accepted:
            gate, accepted_records = None, accepted_records + 1
        if gate is None:
            gated_records += 1
            gated_bytes += sum(f["size"] for f in record.get("files") or []
                               if isinstance(f, dict) and file_gate(f) is None and _is_int(f.get("size")))
        comp["modality_terms"].update(_terms(record, MODALITY_TERMS))
        comp["anatomy"].update(_terms(record, ANATOMY_TERMS))
        comp["dicom_modality"].update({str(i["modality"]) for i in images if i.get("modality")})
        comp["dicom_body_part"].update({str(i["body_part"]) for i in images if i.get("body_part")})
        comp["image_format"].update(str(i["format"]) for i in images if i.get("format"))
        comp["dims"].update(str(i["dims"]) for i in images if i.get("dims"))
        comp["image_size"].update(_bucket(max(i["width"], i.get("height") or 0), SIZE_BUCKETS)
                                  for i in images if _is_int(i.get("width")))
        comp["license"][str(record.get("license") or "(none)")] += 1
        comp["dataset_bytes"][_bucket(size, BYTE_BUCKETS) if size else "unknown"] += 1
        eye.append({"key": key, "record": record, "size": size, "images": len(images), "gate": gate})
    duplicates = dict(conn.execute("SELECT duplicate_of, count(*) FROM duplicates GROUP BY duplicate_of"))
    return {
        "totals": {s: dict(c) for s, c in sorted(totals.items())},
        "eye": eye, "composition": {k: dict(v) for k, v in comp.items()},
        "bytes": {"total": total_bytes, "gated": gated_bytes, "gated_records": gated_records},
        "review": [e for e in eye if held_for_review(e["gate"])],
        "accepted": accepted_records,
        "duplicates": duplicates, "threshold": threshold,
    }


def _page(title: str, body: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1"><title>{escape(title)}</title>'
            f"<style>{STYLE}</style></head><body>{body}</body></html>\n")


def _delta(now: int, before: int | None) -> str:
    if before is None:
        return '<span class="muted">new</span>'
    change = now - before
    if not change:
        return '<span class="muted">±0</span>'
    return f'<span class="{"up" if change > 0 else "down"}">{change:+d}</span>'


def _totals_table(totals: dict[str, dict[str, int]], previous: dict[str, dict[str, int]] | None) -> str:
    labels = sorted({label for counts in totals.values() for label in counts})
    head = "".join(f'<th class="n">{escape(label)}</th>' for label in labels)
    rows = []
    for source, counts in totals.items():
        cells = "".join(
            f'<td class="n" data-source="{escape(source)}" data-label="{escape(label)}">{counts.get(label, 0)} '
            f'{_delta(counts.get(label, 0), None if previous is None else previous.get(source, {}).get(label, 0))}</td>'
            for label in labels)
        total = sum(counts.values())
        before = None if previous is None else sum(previous.get(source, {}).values())
        rows.append(f'<tr><th>{escape(source)}</th>{cells}<td class="n" data-total="{escape(source)}">{total} '
                    f"{_delta(total, before)}</td></tr>")
    grand = sum(sum(c.values()) for c in totals.values())
    since = "first report" if previous is None else "change since the previous report in colour"
    return (f'<table id="totals"><thead><tr><th>source</th>{head}<th class="n">all</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody><tfoot><tr><th>all</th><td colspan="{len(labels)}"></td>'
            f'<td class="n" id="grand-total">{grand}</td></tr></tfoot></table><p class="muted">{since}</p>')


def _sorted_counts(counts: dict[str, int], order: tuple[tuple[Any, str], ...] | None = None) -> list[tuple[str, float]]:
    if order:
        return [(label, counts[label]) for _, label in order if label in counts] + (
            [("unknown", counts["unknown"])] if "unknown" in counts else [])
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:12]


def _eye_table(eye: list[dict[str, Any]], page_rows: int) -> str:
    rows = []
    for entry in sorted(eye, key=lambda e: (-(e["record"].get("confidence") or 0), e["key"])):
        r = entry["record"]
        confidence = r.get("confidence")
        link = r.get("url") or (f"https://doi.org/{r['doi']}" if r.get("doi") else "")
        rows.append(
            f'<tr><td data-v="{escape(str(r.get("title") or ""))}"><a class="card" href="cards/{card_name(entry["key"])}">'
            f'{escape(str(r.get("title") or entry["key"]))}</a></td>'
            f'<td class="n" data-v="{confidence if isinstance(confidence, float | int) else ""}">'
            f'{f"{confidence:.3f}" if isinstance(confidence, float | int) else ""}</td>'
            f'<td class="n" data-v="{entry["images"]}">{entry["images"]}</td>'
            f'<td class="n" data-v="{r.get("img_count") or 0}">{r.get("img_count") or 0}</td>'
            f'<td class="n" data-v="{entry["size"]}">{human_bytes(entry["size"]) if entry["size"] else ""}</td>'
            f'<td data-v="{escape(str(r.get("license") or ""))}">{escape(str(r.get("license") or ""))}</td>'
            f'<td data-v="{escape(r["source"])}">{escape(r["source"])}</td>'
            f'<td data-v="">{f"<a href={json.dumps(link)}>record</a>" if link else ""}</td></tr>')
    head = "".join(f'<th class="sort{" n" if n in (1, 2, 3, 4) else ""}">{h}</th>' for n, h in enumerate(
        ("title", "confidence", "images sniffed", "image files", "size", "licence", "source", "link")))
    controls = ('<p><input id="eye-filter" type="search" size="40" placeholder="filter: title, licence, source…"> '
                '<button id="eye-prev" type="button">previous</button> <button id="eye-next" type="button">next</button> '
                '<span id="eye-shown" class="muted"></span></p>')
    return (f'{controls}<table id="eye" class="sortable" data-page-rows="{page_rows}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table><script>{SORT_SCRIPT}{PAGE_SCRIPT}</script>')


def _index(data: dict[str, Any], previous: dict[str, Any] | None, page_rows: int) -> str:
    comp, b = data["composition"], data["bytes"]
    charts = [
        bar_chart("Modality named (title, keywords, file names)", _sorted_counts(comp["modality_terms"])),
        bar_chart("DICOM modality (sniffed in archives)", _sorted_counts(comp["dicom_modality"])),
        bar_chart("Anatomy named", _sorted_counts(comp["anatomy"])),
        bar_chart("DICOM body part (sniffed)", _sorted_counts(comp["dicom_body_part"])),
        bar_chart("Image formats (sniffed images)", _sorted_counts(comp["image_format"])),
        bar_chart("2D / 3D / video (sniffed images)", _sorted_counts(comp["dims"])),
        bar_chart("Image size, longer side (sniffed)", _sorted_counts(comp["image_size"], SIZE_BUCKETS)),
        bar_chart("Licences (records)", _sorted_counts(comp["license"])),
        bar_chart("Dataset size (sum of files)", _sorted_counts(comp["dataset_bytes"], BYTE_BUCKETS)),
    ]
    eye = data["eye"]
    body = (
        "<h1>envision-spiders: what was found</h1>"
        f'<h2>Records by source and label</h2>{_totals_table(data["totals"], (previous or {}).get("totals"))}'
        f'<h2>EYE_IMAGING records: composition</h2><p><span id="eye-count">{len(eye)}</span> records, '
        f'<span id="eye-bytes" data-bytes="{b["total"]}">{human_bytes(b["total"])}</span> in their files; '
        f'<span id="gated-bytes" data-bytes="{b["gated"]}">{human_bytes(b["gated"])}</span> in '
        f'{b["gated_records"]} records behind the download gate (confidence ≥ {data["threshold"]}, open access).</p>'
        f'<div class="charts">{"".join(charts)}</div>'
        f"<h2>EYE_IMAGING records</h2><p class=muted>Click a column to sort; a title opens its card.</p>"
        f"{_eye_table(eye, page_rows)}"
        f"{_review_section(data['review'], data['accepted'])}"
    )
    return _page("envision-spiders report", body)


def _review_section(review: list[dict[str, Any]], accepted: int = 0) -> str:
    """Confident records the gate holds back: their only eye evidence is left/right in file names
    (``accepted``: how many such records a curator accepted already; they are not listed)."""
    rows = "".join(
        f'<tr><td><a href="cards/{escape(card_name(e["key"]))}">{escape(str(e["record"].get("title") or e["key"]))}</a></td>'
        f'<td>{escape(str(e["record"].get("source")))}</td><td>{e["record"].get("confidence")}</td>'
        f'<td>{escape(", ".join(e["record"].get("eye_evidence") or []) or "—")}</td></tr>'
        for e in review
    )
    return (f'<h2>Held for review</h2><p><span id="review-count">{len(review)}</span> confident records are not '
            "downloaded: the only eye evidence in them is left/right in file names (paws, teeth and culture plates "
            "have those too). Look at each; download those you accept with "
            "<code>scrapy download --record SOURCE:ID</code> (repeatable): it remembers that you accepted it."
            f'{_accepted_note(accepted)}</p><table id="review"><thead><tr><th>title</th><th>source</th><th>confidence</th><th>eye evidence</th>'
            f"</tr></thead><tbody>{rows}</tbody></table>") if review else (
        f"<h2>Held for review</h2><p>None.{_accepted_note(accepted)}</p>" if accepted else "")


def _accepted_note(accepted: int) -> str:
    return (f' <span id="accepted-count">{accepted}</span> accepted after review (downloaded as gated records, '
            "not listed here).") if accepted else ""


def _card(entry: dict[str, Any], duplicates: list[str], download: str) -> str:
    r = entry["record"]
    evidence = [(name, float(v)) for name, v in zip(FEATURE_NAMES, evidence_features(r), strict=True) if v]
    facts = [("key", entry["key"]), ("source", r["source"]), ("DOI", r.get("doi") or ""),
             ("version", r.get("version") or ""), ("version of", r.get("version_of") or ""),
             ("label", r.get("label") or ""), ("confidence", r.get("confidence")),
             ("P(EYE_IMAGING)", r.get("prob_eye_imaging")),
             ("eye evidence", ", ".join(r.get("eye_evidence") or []) or "none recorded"),
             ("licence", r.get("license") or ""),
             ("files", f'{len(r.get("files") or [])} ({human_bytes(entry["size"])})'),
             ("download", download), ("duplicates merged into it", ", ".join(duplicates) or "none")]
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape('' if v is None else str(v))}</td></tr>" for k, v in facts)
    archives = []
    for a in r.get("archive_contents") or []:
        if not isinstance(a, dict):
            continue
        images = [i for i in a.get("images") or [] if isinstance(i, dict)]
        formats = Counter(str(i.get("format")) for i in images if i.get("format"))
        modalities = Counter(" / ".join(str(i[k]) for k in ("modality", "body_part") if i.get(k))
                             for i in images if i.get("modality") or i.get("body_part"))
        sizes = Counter(f'{i["width"]}×{i.get("height")}' + (f'×{i["depth"]}' if i.get("depth") else "")
                        for i in images if i.get("width"))
        exts = ", ".join(f"{escape(e)} {n}" for e, n in list((a.get("extensions") or {}).items())[:8])
        samples = "".join(f"<li><code>{escape(str(n))}</code></li>" for n in (a.get("sample_names") or [])[:10])
        archives.append(
            f'<h3>{escape(str(a.get("name")))}</h3><p>{escape(str(a.get("format")))}, {escape(str(a.get("status")))}'
            f'{" (" + escape(str(a["error"])) + ")" if a.get("error") else ""}'
            f'; entries: {a.get("entries_total") if a.get("entries_total") is not None else "?"}, files listed: '
            f'{a.get("files_listed") or 0}; by extension: {exts or "—"}</p><div class="charts">'
            f'{bar_chart("Sniffed image formats", _sorted_counts(dict(formats)))}'
            f'{bar_chart("Dimensions (sniffed)", _sorted_counts(dict(sizes)))}'
            f'{bar_chart("DICOM modality / body part", _sorted_counts(dict(modalities)))}</div>'
            f'{"<p>Sample entries:</p><ul>" + samples + "</ul>" if samples else ""}')
    link = r.get("url") or (f"https://doi.org/{r['doi']}" if r.get("doi") else "")
    evidence_html = bar_chart("Evidence features (non-zero, 0–1) beside the text embedding", evidence)
    body = (f'<p><a href="../index.html">← all records</a></p><h1 id="card-title">{escape(str(r.get("title")))}</h1>'
            f'{f"<p><a href={json.dumps(link)}>{escape(link)}</a></p>" if link else ""}'
            f"<table>{rows}</table><h2>Why the classifier said so</h2>{evidence_html}"
            f'<h2>Inside the archives</h2>{"".join(archives) or "<p class=muted>no archive inspected</p>"}'
            f'<h2>Description</h2><p>{escape(str(r.get("description") or ""))}</p>')
    return _page(str(r.get("title") or entry["key"]), body)


def _download_status(downloads: Path, record: dict[str, Any], gate: str | None) -> str:
    try:
        manifest = load_manifest(downloads / record_dir_name(record["source"], str(record["source_id"])) / MANIFEST_NAME)
    except ValueError:
        manifest = None
    if manifest:
        return f'{manifest.get("status")} ({manifest.get("finished_at") or manifest.get("started_at") or ""})'
    return "not downloaded" + (f" (gate: {gate})" if gate else " (passes the gate)")


def write_report(
    catalog: Path, out_dir: Path, downloads: Path, threshold: float, page_rows: int = 100, eye_evidence_required: bool = True,
    accepted: Collection[tuple[str, str]] = frozenset(),
) -> ReportSummary:
    """Write ``index.html``, ``cards/*.html`` and ``summary.json`` (totals, for the next report).
    The EYE_IMAGING table shows ``page_rows`` rows at a time, with a filter. ``accepted``: the
    records a curator accepted after review (state ``accepted_for_download``)."""
    conn = connect(catalog, readonly=True)
    try:
        data = collect(conn, threshold, eye_evidence_required, accepted)
        copies: dict[str, list[str]] = defaultdict(list)
        for key, canonical in conn.execute("SELECT key, duplicate_of FROM duplicates ORDER BY key"):
            copies[canonical].append(key)
    finally:
        conn.close()
    summary_path = out_dir / SUMMARY_FILE
    previous = json.loads(summary_path.read_text()) if summary_path.exists() else None
    (out_dir / "cards").mkdir(parents=True, exist_ok=True)
    wanted = set()
    for entry in data["eye"]:
        name = card_name(entry["key"])
        wanted.add(name)
        status = _download_status(downloads, entry["record"], entry["gate"])
        (out_dir / "cards" / name).write_text(_card(entry, copies.get(entry["key"], []), status), encoding="utf-8")
    for stale in (out_dir / "cards").glob("*.html"):
        if stale.name not in wanted:
            stale.unlink()
    (out_dir / "index.html").write_text(_index(data, previous, max(1, page_rows)), encoding="utf-8")
    write_json_atomic(summary_path, {"totals": data["totals"], "bytes": data["bytes"]})
    records = sum(sum(c.values()) for c in data["totals"].values())
    return ReportSummary(str(out_dir), records, len(data["eye"]), len(wanted))
