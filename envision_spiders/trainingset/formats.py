"""The formats an export can take, by name: the entry extensions that select them and the
``inspection.sniff`` formats their first bytes must show."""

from __future__ import annotations

from dataclasses import dataclass

from envision_spiders.inspection.kinds import extension_of


@dataclass(frozen=True)
class ExportFormat:
    name: str
    extensions: frozenset[str]
    sniffed: frozenset[str]  # ``sniff()["format"]`` values that confirm it
    image: bool  # loadable by Pillow (imagefolder / ImageFolder); else kept as a file only
    extensionless: bool = False  # DICOM series are often named IM000001


FORMATS: dict[str, ExportFormat] = {
    f.name: f
    for f in (
        ExportFormat("png", frozenset({".png"}), frozenset({"png"}), True),
        ExportFormat("jpeg", frozenset({".jpg", ".jpeg", ".jpe"}), frozenset({"jpeg"}), True),
        ExportFormat("tiff", frozenset({".tif", ".tiff"}), frozenset({"tiff", "bigtiff"}), True),
        ExportFormat("bmp", frozenset({".bmp"}), frozenset({"bmp"}), True),
        ExportFormat("gif", frozenset({".gif"}), frozenset({"gif"}), True),
        ExportFormat("dicom", frozenset({".dcm", ".dicom"}), frozenset({"dicom"}), False, extensionless=True),
        ExportFormat("nifti", frozenset({".nii", ".nii.gz"}), frozenset({"nifti1", "nifti2"}), False),
    )
}
DEFAULT_FORMATS = ("png", "jpeg", "tiff", "bmp")
# how much of an entry is read before deciding what it is: DICOM meta groups and JPEG EXIF fit
HEAD_BYTES = 64 << 10


def parse_formats(text: str) -> tuple[ExportFormat, ...]:
    """``"png,jpeg,dicom"`` -> the formats; ValueError naming an unknown one."""
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    aliases = {"jpg": "jpeg", "tif": "tiff", "dcm": "dicom", "nii": "nifti"}
    names = [aliases.get(n, n) for n in names]
    unknown = [n for n in names if n not in FORMATS]
    if unknown or not names:
        raise ValueError(f"unknown format(s) {', '.join(unknown) or '(none)'}; known: {', '.join(FORMATS)}")
    return tuple(FORMATS[n] for n in dict.fromkeys(names))


def candidate(name: str, formats: tuple[ExportFormat, ...]) -> bool:
    """Is an entry called ``name`` worth reading the head of, for these formats?"""
    ext = extension_of(name)
    if not ext:
        return any(f.extensionless for f in formats)
    return any(ext in f.extensions for f in formats)


def confirmed(name: str, sniffed_format: str | None, formats: tuple[ExportFormat, ...]) -> ExportFormat | None:
    """The wanted format the bytes show, when the name allows it (a ``.png`` that is a JPEG is
    exported as the JPEG it is; a ``.png`` holding text is not exported)."""
    if not sniffed_format:
        return None
    for f in formats:
        if sniffed_format in f.sniffed:
            return f
    return None
