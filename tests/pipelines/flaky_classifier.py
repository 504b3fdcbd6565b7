"""A ClassifierPipeline whose scoring fails while the setting TEST_CLASSIFIER_FAILS is on (no torch)."""

from __future__ import annotations

from typing import Any

from envision_spiders.classifier.features import eye_evidence
from envision_spiders.classifier.model import ClassifierConfig, prediction
from envision_spiders.pipelines.classify import ClassifierPipeline


class _Scorer:
    loaded = True

    def __init__(self, fails: bool) -> None:
        self.fails = fails

    def predict(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if self.fails:
            raise ImportError("cannot import name 'AutoModel' from 'transformers'")
        return [{**prediction(0.9 if "retina" in r.get("title", "").lower() else 0.1), "eye_evidence": list(eye_evidence(r))}
                for r in records]


class FlakyClassifierPipeline(ClassifierPipeline):
    def build_classifier(self, config: ClassifierConfig) -> Any:
        return _Scorer(self.crawler.settings.getbool("TEST_CLASSIFIER_FAILS"))
