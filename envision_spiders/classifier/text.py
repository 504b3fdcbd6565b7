"""Text composition: everything a record knows, as one string for the sentence encoder.

Records are plain mappings (an ``ItemAdapter`` over a ``DatasetRecord``, or stored JSON);
every key is optional. File evidence comes *before* the description so that it survives
the encoder's token budget: a record whose ``OCT_scans.zip`` holds hundreds of PNG files is
told apart from its siblings by what is inside, even when its description says little.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp", ".jp2", ".ppm", ".pgm"}
)
MEDICAL_EXTENSIONS = frozenset(
    {".dcm", ".dicom", ".nii", ".nii.gz", ".mha", ".mhd", ".nrrd", ".e2e", ".fds", ".fda", ".vol", ".img", ".oct"}
)
VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mov", ".mkv", ".wmv", ".mpg", ".mpeg", ".webm"})
CODE_EXTENSIONS = frozenset(
    {".py", ".ipynb", ".m", ".r", ".js", ".ts", ".cpp", ".c", ".h", ".java", ".sh", ".jl", ".rmd", ".yml", ".yaml"}
)
MODEL_EXTENSIONS = frozenset(
    {".pth", ".pt", ".h5", ".hdf5", ".ckpt", ".onnx", ".pb", ".pkl", ".safetensors", ".joblib", ".tflite", ".keras"}
)
TABLE_EXTENSIONS = frozenset({".csv", ".tsv", ".xlsx", ".xls", ".sav", ".dta", ".rds", ".rdata", ".parquet", ".json", ".sas7bdat"})
GENOMICS_EXTENSIONS = frozenset(
    {".fastq", ".fq", ".fastq.gz", ".fq.gz", ".bam", ".sam", ".cram", ".vcf", ".vcf.gz", ".bed", ".gtf", ".fasta", ".fa", ".h5ad", ".mtx", ".idat"}
)
# microscope vendors' formats (confocal, light-sheet, two-photon): images, often of retinas
MICROSCOPY_EXTENSIONS = frozenset({".czi", ".lif", ".nd2", ".lsm", ".oib", ".oif", ".ims", ".ome.tif", ".ome.tiff"})
# eye-device exports (Heidelberg .e2e/.vol/.sdb, Topcon .fds/.fda, Optovue .oct): eye imaging by format alone
EYE_DEVICE_EXTENSIONS = frozenset({".e2e", ".vol", ".sdb", ".fds", ".fda", ".oct"})
# whole-slide pathology scans: images, but not of eyes
PATHOLOGY_EXTENSIONS = frozenset({".svs", ".ndpi", ".mrxs", ".scn", ".vms"})
DOCUMENT_EXTENSIONS = frozenset({".pdf", ".doc", ".docx", ".ppt", ".pptx", ".odt", ".odp", ".rtf", ".txt", ".md", ".tex", ".epub"})
ARCHIVE_EXTENSIONS = frozenset({".zip", ".tar", ".gz", ".tgz", ".tar.gz", ".7z", ".rar", ".bz2", ".xz"})
_DOUBLE_EXTENSIONS = (".nii.gz", ".tar.gz", ".fastq.gz", ".fq.gz", ".vcf.gz", ".ome.tif", ".ome.tiff")

_TAG_RE = re.compile(r"<[^>]*>")
_SPACE_RE = re.compile(r"\s+")
_MAX_FILE_NAMES = 6
_MAX_DESCRIPTION_CHARS = 4000
# a description longer than this (about what the encoder's 32 tokens hold after the title) is
# reordered: its sentences about images first
SALIENT_BUDGET = 300
# sentences that say nothing about what the record holds: licence, citation, ethics, funding,
# contact and version notes (repository descriptions often open with them)
_BOILERPLATE_RE = re.compile(
    r"licen[cs]e|creative commons|\bcc[- ]by|please cite|if you use|citation|cite (the|this|our)|copyright|"
    r"declaration of helsinki|ethic(s|al) (committee|board|approval)|institutional review board|informed consent|"
    r"competing interests?|conflicts? of interest|fund(ing|ed)|supported by|grant (no|number)|acknowledg|"
    r"corresponding author|contact (the|us)|questions (about|on)|version (history|\d)|\bv\d+[:;]|redistribut|"
    r"all rights reserved|de-identified data are shared|data use agreement|commercial (use|purposes)",
    re.IGNORECASE,
)
_SENTENCE_RE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\"'])")
# words that mark a sentence about images (what the encoder should see when the budget is short)
_SALIENT_RE = re.compile(
    r"imag(e|es|ing)|photograph|\boct\b|\bocta\b|tomograph|angiograph|fundus|scans?\b|b-scans?|slit[- ]lamp|"
    r"microscop|autofluorescence|adaptive optics|topograph|videos?\b|dicom|annotat|segmentation|dataset|archive",
    re.IGNORECASE,
)


def strip_html(text: Any) -> str:
    """Plain text from a description that may hold HTML tags and entities."""
    if not text:
        return ""
    text = _TAG_RE.sub(" ", str(text))
    return _SPACE_RE.sub(" ", html.unescape(text)).strip()


def extension(name: str) -> str:
    """Lower-case extension of a file name, keeping double extensions such as ``.nii.gz``."""
    lower = name.lower().rsplit("/", 1)[-1]
    for ext in _DOUBLE_EXTENSIONS:
        if lower.endswith(ext):
            return ext
    dot = lower.rfind(".")
    return lower[dot:] if dot > 0 else ""


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (str, bytes)):
        return [value]
    if isinstance(value, Mapping):
        return [value]
    try:
        return list(value)
    except TypeError:
        return []


def keywords_of(record: Mapping[str, Any]) -> list[str]:
    return [str(k).strip() for k in _as_list(record.get("keywords")) if str(k).strip()]


def file_names_of(record: Mapping[str, Any]) -> list[str]:
    """File names from ``file_names`` and ``files`` (deduplicated, order kept)."""
    names: list[str] = []
    for name in _as_list(record.get("file_names")):
        if isinstance(name, str) and name:
            names.append(name)
    for entry in _as_list(record.get("files")):
        if isinstance(entry, Mapping) and isinstance(entry.get("name"), str) and entry["name"]:
            names.append(entry["name"])
    return list(dict.fromkeys(names))


def archives_of(record: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [a for a in _as_list(record.get("archive_contents")) if isinstance(a, Mapping)]


def archive_extension_counts(record: Mapping[str, Any]) -> Counter[str]:
    """Extension counts over every inspected archive (``extensions`` or, failing that, ``sample_names``)."""
    counts: Counter[str] = Counter()
    for archive in archives_of(record):
        exts = archive.get("extensions")
        if isinstance(exts, Mapping) and exts:
            for ext, n in exts.items():
                try:
                    counts[str(ext).lower()] += int(n)
                except (TypeError, ValueError):
                    continue
        else:
            for name in _as_list(archive.get("sample_names")):
                if isinstance(name, str):
                    counts[extension(name)] += 1
    counts.pop("", None)
    return counts


def archive_images_of(record: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    images: list[Mapping[str, Any]] = []
    for archive in archives_of(record):
        images.extend(i for i in _as_list(archive.get("images")) if isinstance(i, Mapping))
    return images


def _readable(name: str) -> str:
    """``OCT_scans/NORMAL-001.png`` -> ``OCT scans NORMAL-001.png`` (helps the tokenizer)."""
    return _SPACE_RE.sub(" ", name.replace("_", " ").replace("/", " / ")).strip()


def describe_files(record: Mapping[str, Any]) -> str:
    """A short sentence on the record's files and on what archive inspection found inside."""
    parts: list[str] = []
    names = file_names_of(record)
    if names:
        shown = ", ".join(_readable(n) for n in names[:_MAX_FILE_NAMES])
        more = f" and {len(names) - _MAX_FILE_NAMES} more" if len(names) > _MAX_FILE_NAMES else ""
        parts.append(f"Files: {shown}{more}.")
    elif record.get("file_types"):
        parts.append("File types: " + ", ".join(str(t) for t in _as_list(record.get("file_types"))[:8]) + ".")
    for archive in archives_of(record)[:3]:
        exts = archive.get("extensions")
        if not isinstance(exts, Mapping) or not exts:
            continue
        top = sorted(((int(n), str(e)) for e, n in exts.items() if isinstance(n, (int, float))), reverse=True)[:3]
        inside = ", ".join(f"{n} {e.lstrip('.').upper()}" for n, e in top)
        samples = [_readable(s) for s in _as_list(archive.get("sample_names"))[:2] if isinstance(s, str)]
        sample_text = f" such as {', '.join(samples)}" if samples else ""
        parts.append(f"Archive {_readable(str(archive.get('name') or ''))} contains {inside} files{sample_text}.")
    modalities = Counter()
    for image in archive_images_of(record):
        for key in ("modality", "body_part"):
            value = image.get(key)
            if isinstance(value, str) and value:
                modalities[value] += 1
    if modalities:
        parts.append("DICOM: " + ", ".join(m for m, _ in modalities.most_common(4)) + ".")
    return " ".join(parts)


def salient_description(description: str, budget: int = SALIENT_BUDGET) -> str:
    """The description with boilerplate sentences dropped and, when it is still longer than
    ``budget`` characters, the sentences about images brought to the front (the rest keeps
    its order after them). The encoder reads only the first tokens: a grant abstract that opens
    with the disease, or a record that opens with its licence, would otherwise show it nothing
    about imaging. Short descriptions are returned as they are."""
    if len(description) <= budget:
        return description
    sentences = [s for s in _SENTENCE_RE.split(description) if s.strip()]
    kept = [s for s in sentences if not _BOILERPLATE_RE.search(s)] or sentences
    if sum(len(s) + 1 for s in kept) <= budget:
        return " ".join(kept)
    salient = [s for s in kept if _SALIENT_RE.search(s)]
    rest = [s for s in kept if not _SALIENT_RE.search(s)]
    return " ".join(salient + rest)


def compose_text(record: Mapping[str, Any]) -> str:
    """Title, grant marker, keywords, file evidence, then the HTML-free description (its
    boilerplate dropped and its sentences about images first, :func:`salient_description`)."""
    title = strip_html(record.get("title"))
    parts = [title.rstrip(".") + "." if title else ""]
    if str(record.get("kind") or "").lower() == "grant":
        parts.append("Research grant.")
    keywords = keywords_of(record)
    if keywords:
        parts.append("Keywords: " + ", ".join(keywords[:12]) + ".")
    files = describe_files(record)
    if files:
        parts.append(files)
    description = salient_description(strip_html(record.get("description"))[:_MAX_DESCRIPTION_CHARS])
    if description:
        parts.append(description)
    return _SPACE_RE.sub(" ", " ".join(p for p in parts if p)).strip()


def lexical_text(record: Mapping[str, Any]) -> str:
    """Lower-case title + keywords + description, for the lexicon features (no truncation)."""
    return " ".join(
        [strip_html(record.get("title")), " ".join(keywords_of(record)), strip_html(record.get("description"))]
    ).lower()


def names_text(names: Iterable[str]) -> str:
    return " ".join(_readable(n) for n in names).lower()
