"""The classifier used by the pipeline and the commands: encoder + features + head."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.abc import Traversable
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np

from envision_spiders.classifier.encoder import ClassifierConfigError, SentenceEncoder
from envision_spiders.classifier.features import FEATURE_NAMES, feature_matrix, features_and_eye_evidence
from envision_spiders.classifier.head import Head
from envision_spiders.classifier.text import compose_text

logger = logging.getLogger(__name__)

EYE_IMAGING = "EYE_IMAGING"
NEGATIVE = "NEGATIVE"
LABELS = (NEGATIVE, EYE_IMAGING)
# Through importlib.resources so the head is found inside a zipped egg too (scrapyd jobs).
DEFAULT_HEAD = files("envision_spiders.classifier").joinpath("assets/head.json")
DEFAULT_MAX_LENGTH = 32
DEFAULT_BATCH_SIZE = 32


@dataclass(frozen=True)
class ClassifierConfig:
    """Every classifier setting, read and validated once."""

    model: str | None = None
    head: str | None = None
    max_length: int = DEFAULT_MAX_LENGTH
    encode_batch_size: int = DEFAULT_BATCH_SIZE
    threads: int | None = None
    quantize: bool = False

    @classmethod
    def from_settings(cls, settings: Any) -> ClassifierConfig:
        def positive_int(name: str, default: int) -> int:
            try:
                value = int(settings.get(name) if settings.get(name) not in (None, "") else default)
            except (TypeError, ValueError):
                raise ClassifierConfigError(f"{name}={settings.get(name)!r}: expected a positive integer") from None
            if value <= 0:
                raise ClassifierConfigError(f"{name}={value!r}: expected a positive integer")
            return value

        threads = settings.get("CLASSIFIER_THREADS")
        return cls(
            model=settings.get("CLASSIFIER_MODEL") or None,
            head=settings.get("CLASSIFIER_HEAD") or None,
            max_length=positive_int("CLASSIFIER_MAX_LENGTH", DEFAULT_MAX_LENGTH),
            encode_batch_size=positive_int("CLASSIFIER_ENCODE_BATCH_SIZE", DEFAULT_BATCH_SIZE),
            threads=positive_int("CLASSIFIER_THREADS", 1) if threads not in (None, "", 0, "0") else None,
            quantize=settings.getbool("CLASSIFIER_QUANTIZE", False),
        )


def resolve_head(head: str | os.PathLike[str] | None, setting: str = "CLASSIFIER_HEAD") -> Path | Traversable:
    path = Path(head).expanduser() if head else DEFAULT_HEAD
    if not path.is_file():
        raise ClassifierConfigError(
            f"{setting}={str(path)!r}: no such file (train one with `scrapy train-classifier`, "
            "or leave it empty for the packaged head)"
        )
    return path


# the fields the classifier writes on a record (the pipeline and `scrapy classify`)
CLASSIFIED_FIELDS = ("label", "confidence", "prob_eye_imaging", "prob_negative", "eye_evidence")


def prediction(p_eye: float) -> dict[str, Any]:
    """The four fields the classifier writes, from the calibrated EYE_IMAGING probability."""
    p_eye = float(min(max(p_eye, 0.0), 1.0))
    label = EYE_IMAGING if p_eye >= 0.5 else NEGATIVE
    p_eye_r = round(p_eye, 6)
    p_neg_r = round(1.0 - p_eye_r, 6)
    return {
        "label": label,
        "confidence": p_eye_r if label == EYE_IMAGING else p_neg_r,
        "prob_eye_imaging": p_eye_r,
        "prob_negative": p_neg_r,
    }


class EyeImagingClassifier:
    """Scores records (plain mappings; missing keys tolerated). Heavy parts load lazily."""

    def __init__(self, config: ClassifierConfig | None = None, *, head: Head | None = None) -> None:
        self.config = config or ClassifierConfig()
        self.head_path = None if head is not None else resolve_head(self.config.head)
        self.encoder = SentenceEncoder(
            self.config.model,
            max_length=self.config.max_length,
            batch_size=self.config.encode_batch_size,
            threads=self.config.threads,
            quantize=self.config.quantize,
        )
        self._head = head
        self._ready = False

    @classmethod
    def from_settings(cls, settings: Any) -> EyeImagingClassifier:
        return cls(ClassifierConfig.from_settings(settings))

    @property
    def head(self) -> Head:
        if self._head is None:
            try:
                self._head = Head.load(self.head_path)
            except (OSError, ValueError, KeyError) as exc:
                raise ClassifierConfigError(f"CLASSIFIER_HEAD={str(self.head_path)!r}: unreadable head: {exc}") from exc
            if list(self._head.feature_names) != list(FEATURE_NAMES):
                raise ClassifierConfigError(
                    f"CLASSIFIER_HEAD={str(self.head_path)!r} was trained with other features; "
                    "retrain it with `scrapy train-classifier`"
                )
        return self._head

    @property
    def loaded(self) -> bool:
        return self._ready

    def load(self) -> None:
        """Load head and encoder now (otherwise the first batch does)."""
        if self._ready:
            return
        head = self.head
        self.encoder.load()
        if self.encoder.dimension != head.embedding_dim:
            raise ClassifierConfigError(
                f"CLASSIFIER_MODEL={self.encoder.model_ref!r} gives {self.encoder.dimension}-d embeddings "
                f"but the head expects {head.embedding_dim}: retrain with `scrapy train-classifier`"
            )
        trained = head.encoder
        if trained and (trained.get("max_length") != self.config.max_length or trained.get("quantize") != self.config.quantize):
            logger.warning(
                "classifier head was trained with max_length=%s quantize=%s, running with %s/%s: "
                "probabilities may be less well calibrated",
                trained.get("max_length"), trained.get("quantize"), self.config.max_length, self.config.quantize,
            )
        self._ready = True

    def embed(self, records: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
        texts = [compose_text(r) for r in records]
        return self.encoder.encode(texts), feature_matrix(list(records))

    def predict_proba(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        if not records:
            return np.zeros(0, dtype=np.float32)
        self.load()
        embeddings, features = self.embed(records)
        return self.head.predict_proba(embeddings, features)

    def predict(self, records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """One ``{label, confidence, prob_eye_imaging, prob_negative, eye_evidence}`` per record
        (``CLASSIFIED_FIELDS``)."""
        if not records:
            return []
        self.load()
        features, kinds = features_and_eye_evidence(records)
        p_eye = self.head.predict_proba(self.encoder.encode([compose_text(r) for r in records]), features)
        return [{**prediction(float(p)), "eye_evidence": list(k)} for p, k in zip(p_eye, kinds)]
