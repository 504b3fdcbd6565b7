"""What a curator reads in an archive with no words: image geometry and class folders.

Pure functions over what archive inspection records (``inspection/sniff.py``: ``format``,
``width``, ``height``, ``channels``, ``frames``/``depth``, ``dims``) and over file / archive
entry names. Used by ``features.py``.

* **Geometry.** Some image sizes belong to one kind of instrument: OCT B-scans are grey and
  have the scanner's axial pixel count as their height (496 on Spectralis, 885 or 650 on Topcon,
  1024 or 512 on Cirrus, with a non-square width), OCT volumes stack 25-512 such B-scans, and
  OCT-angiography en-face images are small grey squares (304, 320, 400, 420 pixels). Others point
  away from the eye: a large (1,500 pixels and more) grey near-square JPEG/PNG is a radiograph
  (chest X-rays, mammograms), a small colour square tile is a histology or natural-image patch. Colour photos
  of ordinary sizes say nothing either way (fundus photographs share them with every camera).
* **Class folders.** Classification datasets put each image under a folder named after its
  class; ``CNV/``, ``DRUSEN/``, ``glaucoma/`` or ``PCV/`` name eye diseases, ``PNEUMONIA/``,
  ``malignant/`` or ``glioma/`` do not. Only the directories are read (a file stem is an ID).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

OCT = "oct"
OCTA = "octa"
RADIOGRAPH = "radiograph"
TILE = "tile"

# axial pixel counts of OCT B-scans that other images rarely have (Spectralis 496, Topcon 885 /
# 650, 992 for double-depth exports)
_OCT_HEIGHTS = frozenset({496, 885, 650, 992})
# Cirrus and similar scanners: 512 or 1024 deep with a 200-1024 wide, non-square B-scan
_OCT_DEEP = frozenset({512, 1024})
_OCT_WIDTHS = frozenset({200, 256, 384, 500, 512, 768, 1000, 1024, 1536})
_OCTA_SIDES = frozenset({245, 304, 320, 350, 400, 420})
_RADIOGRAPH_FORMATS = frozenset({"jpeg", "png"})


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def image_geometry(image: Mapping[str, Any]) -> str | None:
    """The instrument an image's size and colour point to (``OCT``, ``OCTA``, ``RADIOGRAPH``,
    ``TILE``), or None when they say nothing (unknown size, ordinary photo sizes)."""
    width, height = _int(image.get("width")), _int(image.get("height"))
    if width <= 0 or height <= 0:
        return None
    channels = _int(image.get("channels")) or None
    grey = channels == 1
    colour = channels is not None and channels >= 3
    slices = max(_int(image.get("depth")), _int(image.get("frames")))
    fmt = str(image.get("format") or "").lower()
    # (colour squares of these sizes are thumbnails as often as colour-coded en-face maps)
    if width == height and width in _OCTA_SIDES and not colour:
        return OCTA
    if not colour and width != height:
        if height in _OCT_HEIGHTS and 128 <= width <= 1536:
            return OCT
        if height in _OCT_DEEP and width in _OCT_WIDTHS:
            return OCT
    if not colour and 25 <= slices <= 512 and height in _OCT_HEIGHTS | _OCT_DEEP and width != height:
        return OCT
    short, long = min(width, height), max(width, height)
    if grey and fmt in _RADIOGRAPH_FORMATS and short >= 1500 and long / short <= 1.35:
        return RADIOGRAPH
    if colour and width == height and width <= 300:
        return TILE
    return None


def geometry_shares(images: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """Share of the sized images (those with a width and height) of each geometry."""
    counts = {OCT: 0, OCTA: 0, RADIOGRAPH: 0, TILE: 0}
    sized = 0
    for image in images:
        if _int(image.get("width")) <= 0 or _int(image.get("height")) <= 0:
            continue
        sized += 1
        kind = image_geometry(image)
        if kind:
            counts[kind] += 1
    return {k: (n / sized if sized else 0.0) for k, n in counts.items()}


# class labels of eye-disease classification datasets, as folder names (after lower-casing and
# turning "-", " " into "_")
_EYE_CLASSES = frozenset({
    "cnv", "dme", "drusen", "amd", "armd", "namd", "wet_amd", "dry_amd", "pcv", "csc", "csr", "cscr", "rvo", "brvo", "crvo",
    "macular_hole", "erm", "epiretinal_membrane", "vmt", "dr", "npdr", "pdr", "no_dr", "nodr", "mild_npdr", "moderate_npdr",
    "severe_npdr", "proliferative_dr", "diabetic_retinopathy", "glaucoma", "glaucomatous", "non_glaucoma", "suspect_glaucoma",
    "cataract", "keratoconus", "pterygium", "myopia", "pathologic_myopia", "pathological_myopia", "hypertensive_retinopathy",
    "retinitis_pigmentosa", "rop", "papilledema", "papilloedema", "optic_disc", "retinal_detachment", "uveitis",
    "keratitis", "macular_degeneration", "geographic_atrophy", "stargardt",
})
_NON_EYE_CLASSES = frozenset({
    "pneumonia", "covid", "covid19", "covid_19", "tuberculosis", "benign", "malignant", "melanoma", "nevus", "naevus",
    "glioma", "meningioma", "pituitary", "no_tumor", "no_tumour", "carcinoma", "adenocarcinoma", "polyp", "polyps",
    "fracture", "fractured", "effusion", "cardiomegaly", "nodule", "basal_cell_carcinoma", "seborrheic_keratosis",
    "healthy_leaf", "blight", "rust", "cat", "cats", "dog", "dogs",
})
_SEPARATORS_RE = re.compile(r"[\s\-]+")


def class_folder_counts(names: Iterable[str]) -> tuple[int, int]:
    """(eye, non-eye) class folders among the directories of the given paths, each distinct
    folder name counted once."""
    eye: set[str] = set()
    other: set[str] = set()
    for name in names:
        for folder in name.replace("\\", "/").split("/")[:-1]:
            label = _SEPARATORS_RE.sub("_", folder.strip().lower())
            if label in _EYE_CLASSES:
                eye.add(label)
            elif label in _NON_EYE_CLASSES:
                other.add(label)
    return len(eye), len(other)
