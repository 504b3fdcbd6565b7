"""Build a record store and ``complete`` download folders with real images, as the gated
downloads leave them, without crawling."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path
from typing import Any

from PIL import Image

from envision_spiders.downloads.manifest import COMPLETE, MANIFEST_NAME, new_manifest, write_manifest
from envision_spiders.downloads.paths import record_dir_name, unique_names
from envision_spiders.jsoncodec import write_json_atomic
from envision_spiders.state.store import record_path


def image_bytes(seed: int, fmt: str = "PNG", size: tuple[int, int] = (12, 9)) -> bytes:
    """A real, distinct (by seed) image Pillow and datasets can decode."""
    im = Image.new("RGB", size, ((seed * 37) % 256, (seed * 91) % 256, (seed * 53 + 7) % 256))
    im.putpixel((0, 0), (seed % 256, (seed // 256) % 256, 1))
    buf = io.BytesIO()
    im.save(buf, format=fmt)
    return buf.getvalue()


def zip_of(entries: list[tuple[str, bytes]], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return buf.getvalue()


def tar_of(entries: list[tuple[str, bytes]], mode: str = "w:gz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def put_downloaded(data: Path, source: str, source_id: str, files: dict[str, bytes], *,
                   status: str = COMPLETE, **record_fields: Any) -> Path:
    """Store a record and its download folder (manifest + files) under ``data``."""
    record = {"source": source, "source_id": source_id, "title": f"dataset {source_id}",
              "label": "EYE_IMAGING", "confidence": 0.99, "doi": None, "license": None, **record_fields,
              "files": [{"name": n, "size": len(b)} for n, b in files.items()]}
    write_json_atomic(record_path(data, source, source_id), record)
    folder_rel = record_dir_name(source, source_id)
    store = data / "downloads"
    entries = []
    for (name, payload), safe in zip(files.items(), unique_names(list(files))):
        path = store / folder_rel / safe
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(payload)
        entries.append({"name": name, "path": f"{folder_rel}/{safe}", "status": COMPLETE, "size": len(payload)})
    manifest = new_manifest(record, entries, "2026-01-01T00:00:00.000+00:00", status)
    write_manifest(store / folder_rel / MANIFEST_NAME, manifest)
    return store / folder_rel


def kermany_zip() -> bytes:
    """Kermany-style OCT2017/{train,test}/{CNV,DME,NORMAL}/ JPEGs, one image in both the train
    and test folders, and a README."""
    entries = [(f"OCT2017/{split}/{cls}/{cls}-{i}.jpeg", image_bytes(100 * j + 10 * (split == "test") + i, "JPEG"))
               for j, cls in enumerate(["CNV", "DME", "NORMAL"]) for split in ["train", "test"] for i in range(10)]
    same = image_bytes(777, "JPEG")
    entries += [("OCT2017/train/CNV/dup.jpeg", same), ("OCT2017/test/CNV/dup.jpeg", same),
                ("OCT2017/README.txt", b"Kermany et al.")]
    return zip_of(entries)


def class_tar(dicom_bytes: bytes) -> bytes:
    """imgs/{CNV,DRUSEN}/ PNGs (8 each) and one DICOM, gzipped TAR."""
    entries = [(f"imgs/{cls}/{cls}_{i}.png", image_bytes(2000 + 10 * j + i)) for j, cls in enumerate(["CNV", "DRUSEN"])
               for i in range(8)]
    entries.append(("imgs/CNV/scan.dcm", dicom_bytes))
    return tar_of(entries)
