"""Test-only pipeline: deterministic labels from the title, standing in for the classifier.

The gate is what download tests check; the classifier's quality has its own tests. Titles
with fundus/OCT/slit-lamp are EYE_IMAGING (confidence 0.95, or 0.70 for the OCT titles so
that the threshold matters); everything else NEGATIVE.
"""

from __future__ import annotations

from typing import Any

from itemadapter import ItemAdapter

from envision_spiders.classifier.features import eye_evidence

RULES = (("fundus", 0.95), ("slit-lamp", 0.91), ("oct b-scans", 0.70))


def label_for(title: str) -> tuple[str, float]:
    lowered = title.lower()
    for word, confidence in RULES:
        if word in lowered:
            return "EYE_IMAGING", confidence
    return "NEGATIVE", 0.9


class TitleLabelPipeline:
    def process_item(self, item: Any) -> Any:
        adapter = ItemAdapter(item)
        label, confidence = label_for(adapter.get("title") or "")
        adapter["label"], adapter["confidence"] = label, confidence
        adapter["prob_eye_imaging"] = confidence if label == "EYE_IMAGING" else 1 - confidence
        adapter["prob_negative"] = 1 - adapter["prob_eye_imaging"]
        adapter["eye_evidence"] = list(eye_evidence(adapter.asdict()))  # as the classifier writes it
        return item
