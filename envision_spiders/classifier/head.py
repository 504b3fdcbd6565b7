"""The trained head: logistic regression over [sentence embedding, evidence features],
followed by Platt scaling fitted on out-of-fold scores. Stored as a small JSON file."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.abc import Traversable
from pathlib import Path
from typing import Any

import numpy as np

HEAD_FORMAT = "envision-classifier-head/1"


@dataclass
class Head:
    weights: np.ndarray  # (dim + n_features,)
    bias: float
    mean: np.ndarray  # standardisation of the design row [embedding, features]
    scale: np.ndarray
    feature_names: list[str]
    calibration_a: float = 1.0  # p = sigmoid(a * logit + b)
    calibration_b: float = 0.0
    embedding_dim: int = 384
    encoder: dict[str, Any] = field(default_factory=dict)  # how the embeddings were made
    training: dict[str, Any] = field(default_factory=dict)  # provenance and held-out figures

    def design(self, embeddings: np.ndarray, features: np.ndarray) -> np.ndarray:
        return ((np.hstack([embeddings, features]) - self.mean) / self.scale).astype(np.float32)

    def logits(self, embeddings: np.ndarray, features: np.ndarray) -> np.ndarray:
        return self.design(embeddings, features) @ self.weights + self.bias

    def predict_proba(self, embeddings: np.ndarray, features: np.ndarray) -> np.ndarray:
        """Calibrated probability of EYE_IMAGING per row."""
        z = self.calibration_a * self.logits(embeddings, features) + self.calibration_b
        return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))

    def to_json(self) -> dict[str, Any]:
        return {
            "format": HEAD_FORMAT,
            "encoder": self.encoder,
            "embedding_dim": self.embedding_dim,
            "feature_names": list(self.feature_names),
            "feature_mean": [round(float(x), 7) for x in self.mean],
            "feature_scale": [round(float(x), 7) for x in self.scale],
            "weights": [round(float(x), 7) for x in self.weights],
            "bias": float(self.bias),
            "calibration": {"method": "platt", "a": float(self.calibration_a), "b": float(self.calibration_b)},
            "training": self.training,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Head:
        if data.get("format") != HEAD_FORMAT:
            raise ValueError(f"not a classifier head (format {data.get('format')!r}, expected {HEAD_FORMAT!r})")
        calibration = data.get("calibration") or {}
        return cls(
            weights=np.asarray(data["weights"], dtype=np.float32),
            bias=float(data["bias"]),
            mean=np.asarray(data["feature_mean"], dtype=np.float32),
            scale=np.asarray(data["feature_scale"], dtype=np.float32),
            feature_names=list(data["feature_names"]),
            calibration_a=float(calibration.get("a", 1.0)),
            calibration_b=float(calibration.get("b", 0.0)),
            embedding_dim=int(data.get("embedding_dim", 384)),
            encoder=dict(data.get("encoder") or {}),
            training=dict(data.get("training") or {}),
        )

    def save(self, path: str | Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=1) + "\n", encoding="utf-8")
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path | Traversable) -> Head:
        """From a file, or a packaged resource (which may sit inside a zipped egg)."""
        source = Path(path) if isinstance(path, str) else path
        return cls.from_json(json.loads(source.read_text(encoding="utf-8")))
