"""The encoder loads once per process, under one lock, however many crawlers ask at once."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import types

import pytest

from envision_spiders.classifier import encoder as encoder_module
from envision_spiders.classifier.encoder import SentenceEncoder
from tests.conftest import PROJECT_ROOT, scrapy_env


class _LazyTransformers(types.ModuleType):
    """Stands in for transformers' lazy module: an import racing another one fails, as the real
    one does ("cannot import name 'AutoModel' from 'transformers'")."""

    def __init__(self) -> None:
        super().__init__("transformers")
        self.guard = threading.Lock()
        self.inside = 0
        self.crowded = threading.Event()
        self.loads = 0
        module = self

        class Auto:
            @staticmethod
            def from_pretrained(ref: str, **kwargs: object) -> object:
                with module.guard:
                    module.loads += 1
                config = types.SimpleNamespace(hidden_size=384)
                return types.SimpleNamespace(eval=lambda: None, config=config)

        self.auto = Auto

    def __getattr__(self, name: str) -> object:
        if name not in ("AutoModel", "AutoTokenizer"):
            raise AttributeError(name)
        with self.guard:
            self.inside += 1
            if self.inside > 1:
                self.crowded.set()
        try:
            self.crowded.wait(0.3)  # the time a real first import takes: another thread may come in
            if self.crowded.is_set():
                raise ImportError(f"cannot import name {name!r} from 'transformers'")
            return self.auto
        finally:
            with self.guard:
                self.inside -= 1


@pytest.fixture
def lazy_transformers(monkeypatch):
    fake = _LazyTransformers()
    utils = types.ModuleType("transformers.utils")
    utils.logging = types.SimpleNamespace(set_verbosity_error=lambda: None, disable_progress_bar=lambda: None)
    monkeypatch.setitem(sys.modules, "transformers", fake)
    monkeypatch.setitem(sys.modules, "transformers.utils", utils)
    monkeypatch.setattr(encoder_module, "_LOADED", {}, raising=False)  # nothing loaded yet in this process
    return fake


def test_several_crawlers_loading_at_once_import_once_and_share_one_model(lazy_transformers):
    # crawlall: one classifier pipeline (so one encoder) per crawler, each loading in its worker thread
    encoders = [SentenceEncoder(None, quantize=False) for _ in range(4)]
    errors: list[BaseException] = []
    start = threading.Barrier(len(encoders))

    def load(encoder: SentenceEncoder) -> None:
        start.wait()
        try:
            encoder.load()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=load, args=(e,)) for e in encoders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert not lazy_transformers.crowded.is_set()
    assert lazy_transformers.loads == 2  # one tokenizer and one model for the whole process
    assert all(e.loaded and e.dimension == 384 for e in encoders)


def test_the_real_lazy_import_from_several_threads_in_a_fresh_process():
    # transformers not yet imported (a fresh process), seven crawlers' encoders loading at once
    script = textwrap.dedent("""
        import threading
        from envision_spiders.classifier.encoder import SentenceEncoder
        encoders = [SentenceEncoder(None, max_length=16, quantize=False) for _ in range(7)]
        errors = []
        def load(encoder):
            try:
                encoder.load()
            except Exception as exc:
                errors.append(repr(exc))
        threads = [threading.Thread(target=load, args=(e,)) for e in encoders]
        [t.start() for t in threads]
        [t.join() for t in threads]
        assert errors == [], errors
        assert len({id(e._loaded) for e in encoders}) == 1
        print("ok")
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, env=scrapy_env(),
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]
