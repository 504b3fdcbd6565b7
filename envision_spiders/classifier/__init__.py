"""EYE_IMAGING vs NEGATIVE classification of dataset records, fully offline.

all-MiniLM-L6-v2 (packaged, int8, short token budget) embeds the composed text; a small
logistic head over [embedding, evidence features] gives a Platt-calibrated probability.
"""

from envision_spiders.classifier.encoder import ClassifierConfigError, SentenceEncoder, packaged_model_dir
from envision_spiders.classifier.model import (
    DEFAULT_HEAD,
    EYE_IMAGING,
    LABELS,
    NEGATIVE,
    ClassifierConfig,
    EyeImagingClassifier,
    prediction,
)
from envision_spiders.classifier.text import compose_text, strip_html

__all__ = [
    "DEFAULT_HEAD",
    "EYE_IMAGING",
    "LABELS",
    "NEGATIVE",
    "ClassifierConfig",
    "ClassifierConfigError",
    "EyeImagingClassifier",
    "SentenceEncoder",
    "compose_text",
    "packaged_model_dir",
    "prediction",
    "strip_html",
]
