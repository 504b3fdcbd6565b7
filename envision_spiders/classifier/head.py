"""The trained head over [sentence embedding, evidence features]: logistic regression, or that
plus one hidden ReLU layer over the evidence features beside it (which lets evidence combine:
left/right names count for an eye only beside other eye evidence), followed by Platt scaling.
Stored as a JSON file."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.abc import Traversable
from pathlib import Path
from typing import Any

import numpy as np

HEAD_FORMAT = "envision-classifier-head/1"  # logistic regression
HEAD_FORMAT_HIDDEN = "envision-classifier-head/2"  # the regression with a hidden layer beside it


@dataclass
class Head:
    weights: np.ndarray  # (dim + n_features,), or (hidden,) after a hidden layer
    bias: float
    mean: np.ndarray  # standardisation of the design row [embedding, features]
    scale: np.ndarray
    feature_names: list[str]
    calibration_a: float = 1.0  # p = sigmoid(a * logit + b)
    calibration_b: float = 0.0
    embedding_dim: int = 384
    encoder: dict[str, Any] = field(default_factory=dict)  # how the embeddings were made
    training: dict[str, Any] = field(default_factory=dict)  # provenance and held-out figures
    hidden_weights: np.ndarray | None = None  # (n_features, hidden): a ReLU layer over the evidence features
    hidden_bias: np.ndarray | None = None  # (hidden,)
    skip_weights: np.ndarray | None = None  # (dim + n_features,): the design row's direct part beside the hidden layer

    def design(self, embeddings: np.ndarray, features: np.ndarray) -> np.ndarray:
        return ((np.hstack([embeddings, features]) - self.mean) / self.scale).astype(np.float32)

    def logits(self, embeddings: np.ndarray, features: np.ndarray) -> np.ndarray:
        x = self.design(embeddings, features)
        if self.hidden_weights is None:
            return x @ self.weights + self.bias
        direct = x @ self.skip_weights if self.skip_weights is not None else 0.0
        evidence = x[:, self.embedding_dim:]
        return np.maximum(evidence @ self.hidden_weights + self.hidden_bias, 0.0) @ self.weights + direct + self.bias

    def predict_proba(self, embeddings: np.ndarray, features: np.ndarray) -> np.ndarray:
        """Calibrated probability of EYE_IMAGING per row."""
        z = self.calibration_a * self.logits(embeddings, features) + self.calibration_b
        return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))

    def to_json(self) -> dict[str, Any]:
        hidden = {}
        if self.hidden_weights is not None:
            assert self.hidden_bias is not None
            # thousands of numbers: little-endian float32 in base64 keeps the file small
            matrix = np.ascontiguousarray(self.hidden_weights, dtype="<f4")
            hidden = {"hidden": {
                "shape": list(matrix.shape),
                "weights_f32_base64": base64.b64encode(matrix.tobytes()).decode("ascii"),
                "bias": [round(float(x), 7) for x in self.hidden_bias],
                **({"skip": [round(float(x), 7) for x in self.skip_weights]} if self.skip_weights is not None else {}),
            }}
        return {
            "format": HEAD_FORMAT_HIDDEN if hidden else HEAD_FORMAT,
            "encoder": self.encoder,
            "embedding_dim": self.embedding_dim,
            "feature_names": list(self.feature_names),
            "feature_mean": [round(float(x), 7) for x in self.mean],
            "feature_scale": [round(float(x), 7) for x in self.scale],
            "weights": [round(float(x), 7) for x in self.weights],
            "bias": float(self.bias),
            "calibration": {"method": "platt", "a": float(self.calibration_a), "b": float(self.calibration_b)},
            "training": self.training,
            **hidden,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Head:
        if data.get("format") not in (HEAD_FORMAT, HEAD_FORMAT_HIDDEN):
            raise ValueError(
                f"not a classifier head (format {data.get('format')!r}, expected {HEAD_FORMAT!r} or {HEAD_FORMAT_HIDDEN!r})"
            )
        hidden = data.get("hidden") if data["format"] == HEAD_FORMAT_HIDDEN else None
        if data["format"] == HEAD_FORMAT_HIDDEN and not hidden:
            raise ValueError(f"a {HEAD_FORMAT_HIDDEN!r} head without its hidden layer: retrain with `scrapy train-classifier`")
        hidden_weights = hidden_bias = skip_weights = None
        if hidden is not None:
            rows, cols = (int(n) for n in hidden["shape"])
            packed = base64.b64decode(hidden["weights_f32_base64"])
            hidden_weights = np.frombuffer(packed, dtype="<f4").reshape(rows, cols).astype(np.float32)
            hidden_bias = np.asarray(hidden["bias"], dtype=np.float32)
            if hidden.get("skip") is not None:
                skip_weights = np.asarray(hidden["skip"], dtype=np.float32)
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
            hidden_weights=hidden_weights,
            hidden_bias=hidden_bias,
            skip_weights=skip_weights,
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
