"""``croissant.json``: the export described in MLCommons Croissant 1.0 (JSON-LD).

Distribution: each split's ``metadata.jsonl`` (a FileObject with its sha256) and a FileSet of
its images. Record sets: ``samples`` (every metadata column, plus ``split`` from the metadata
file's folder) and ``images`` (each image's bytes and its label folder). Provenance: the
source datasets (DOI or ``source:source_id``) in ``isBasedOn``, their licences in ``license``,
and per dataset a ``sources`` record set with DOI, licence and image count. No dates or
absolute paths, so the same export gives the same file.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path, PurePosixPath
from typing import Any

from envision_spiders.trainingset.options import ExportOptions

CROISSANT_NAME = "croissant.json"
CROISSANT_CONFORMS_TO = "http://mlcommons.org/croissant/1.0"
CONTEXT: dict[str, Any] = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "equivalentProperty": "cr:equivalentProperty",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}
_TEXT, _INT, _FLOAT = "sc:Text", "sc:Integer", "sc:Float"
METADATA_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("file_name", _TEXT, "the image's path relative to its split folder"),
    ("label", _TEXT, "the class (its folder name may be a sanitised form of it)"),
    ("source", _TEXT, "repository the dataset was found in"),
    ("source_id", _TEXT, "the dataset's id in that repository"),
    ("doi", _TEXT, "the dataset's DOI (empty when it has none)"),
    ("license", _TEXT, "the dataset's licence as the repository gives it (empty when unknown)"),
    ("dataset_file", _TEXT, "the downloaded file the image came from"),
    ("path_in_archive", _TEXT, "the image's path inside that archive (empty for a plain file)"),
    ("format", _TEXT, "format read from the image's bytes"),
    ("width", _INT, "pixels (0 when unknown)"),
    ("height", _INT, "pixels (0 when unknown)"),
    ("modality", _TEXT, "imaging modality when the file says (DICOM), else empty"),
    ("sha256", _TEXT, "of the image's bytes"),
    ("size", _INT, "bytes"),
)
_MIME = {"png": "image/png", "jpeg": "image/jpeg", "tiff": "image/tiff", "bmp": "image/bmp", "gif": "image/gif"}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _provenance(samples: list[Any]) -> list[dict[str, Any]]:
    counts: Counter[str] = Counter(s.record.key for s in samples)
    records = {s.record.key: s.record for s in samples}
    return [
        {
            "dataset": key,
            "doi": records[key].doi or "",
            "license": records[key].license or "",
            "title": str(records[key].record.get("title") or ""),
            "images": counts[key],
        }
        for key in sorted(records)
    ]


def build_croissant(samples: list[Any], dest: Path, options: ExportOptions,
                    name: str = "envision-eye-imaging-export") -> dict[str, Any]:
    """The Croissant JSON-LD for an export whose files are already written under ``dest``."""
    splits = sorted({str(s.split) for s in samples if s.image})
    mimes = sorted({_MIME[s.format] for s in samples if s.image and s.format in _MIME}) or ["image/png"]
    provenance = _provenance(samples)
    distribution: list[dict[str, Any]] = []
    for split in splits:
        distribution.append({
            "@type": "cr:FileObject",
            "@id": f"{split}-metadata",
            "name": f"{split}-metadata",
            "description": f"one line per image of the {split} split",
            "contentUrl": f"{split}/metadata.jsonl",
            "encodingFormat": "application/jsonlines",
            "sha256": _sha256(dest / split / "metadata.jsonl"),
        })
        distribution.append({
            "@type": "cr:FileSet",
            "@id": f"{split}-image-files",
            "name": f"{split}-image-files",
            "description": f"the images of the {split} split, one folder per label",
            "encodingFormat": mimes,
            # only the Pillow-readable files: DICOM/NIfTI kept in the same folders stay out
            "includes": sorted({f"{split}/*/*{PurePosixPath(str(s.dest)).suffix}"
                                for s in samples if s.image and s.split == split}),
        })
    columns = list(METADATA_COLUMNS)
    if options.weights:
        columns.append(("weight", _FLOAT, "per-sample weight restoring the label distribution before capping"))
    record_sets: list[dict[str, Any]] = []
    for split in splits:
        fields = [
            {
                "@type": "cr:Field",
                "@id": f"{split}/{column}",
                "name": f"{split}/{column}",
                "description": description,
                "dataType": data_type,
                "source": {"fileObject": {"@id": f"{split}-metadata"}, "extract": {"column": column}},
            }
            for column, data_type, description in columns
        ]
        record_sets.append({
            "@type": "cr:RecordSet",
            "@id": split,
            "name": split,
            "description": f"the {split} split: provenance, licence and facts of each image",
            "key": {"@id": f"{split}/file_name"},
            "field": fields,
        })
        record_sets.append({
            "@type": "cr:RecordSet",
            "@id": f"{split}-images",
            "name": f"{split}-images",
            "description": f"the image files of the {split} split with the label folder each is in",
            "field": [
                {
                    "@type": "cr:Field",
                    "@id": f"{split}-images/image",
                    "name": f"{split}-images/image",
                    "dataType": "sc:ImageObject",
                    "source": {"fileSet": {"@id": f"{split}-image-files"}, "extract": {"fileProperty": "content"}},
                },
                {
                    "@type": "cr:Field",
                    "@id": f"{split}-images/label_folder",
                    "name": f"{split}-images/label_folder",
                    "dataType": _TEXT,
                    "source": {
                        "fileSet": {"@id": f"{split}-image-files"},
                        "extract": {"fileProperty": "fullpath"},
                        "transform": {"regex": f"^(?:.*/)?{split}/([^/]+)/[^/]+$"},
                    },
                },
            ],
        })
    record_sets.append({
        "@type": "cr:RecordSet",
        "@id": "sources",
        "name": "sources",
        "description": "the source datasets of this export, with their DOIs and licences",
        "key": {"@id": "sources/dataset"},
        "field": [
            {"@type": "cr:Field", "@id": f"sources/{key}", "name": f"sources/{key}", "dataType": dtype}
            for key, dtype in (("dataset", _TEXT), ("doi", _TEXT), ("license", _TEXT), ("title", _TEXT),
                               ("images", _INT))
        ],
        "data": [{f"sources/{k}": v for k, v in row.items()} for row in provenance],
    })
    licences = sorted({row["license"] for row in provenance if row["license"]})
    based_on = [f"https://doi.org/{row['doi']}" if row["doi"] else row["dataset"] for row in provenance]
    return {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "conformsTo": CROISSANT_CONFORMS_TO,
        "name": name,
        "description": (
            f"Images exported by envision-spiders from downloaded eye-imaging datasets, labelled by "
            f"{options.label_by}, split {', '.join(f'{n}={f:g}' for n, f in options.splits)} "
            f"(seed {options.seed}, grouped by {options.group_by})."
        ),
        "url": "https://github.com/envision-spiders/envision-spiders",
        "version": "1.0.0",
        "license": licences,
        "isBasedOn": based_on,
        "citeAs": "; ".join(based_on),
        "distribution": distribution,
        "recordSet": record_sets,
    }
