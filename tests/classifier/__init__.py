from pathlib import Path

from envision_spiders.classifier.features import FEATURE_NAMES, evidence_features

FIXTURES = Path(__file__).parent / "fixtures"


def feature(record: dict, name: str) -> float:
    """One named evidence feature of a record (shared by the classifier's tests)."""
    return float(evidence_features(record)[FEATURE_NAMES.index(name)])
