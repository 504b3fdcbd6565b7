"""Per input: the record it gave, or why it gave none; the run's last words.

Inputs are kept in the order given. The first record of an input wins (an input gives at most
one record); a reason is kept only while the input has no record.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# extra["ingest_input"] on a record: the input it was read for (set along the request trail)
INPUT_KEY = "ingest_input"
# request meta key holding the input a request was made for
INPUT_META = "envision_ingest_input"


@dataclass
class Outcome:
    record: str | None = None  # "source:source_id"
    reason: str | None = None  # a short code (docs/url-ingest.md), when no record
    detail: str = ""


@dataclass
class Ledger:
    outcomes: dict[str, Outcome] = field(default_factory=dict)

    def expect(self, text: str) -> None:
        self.outcomes.setdefault(text, Outcome())

    def recorded(self, text: str, owner: str) -> bool:
        """Note ``owner`` as ``text``'s record; False when the input already had one."""
        outcome = self.outcomes.setdefault(text, Outcome())
        if outcome.record is not None:
            return False
        outcome.record, outcome.reason, outcome.detail = owner, None, ""
        return True

    def failed(self, text: str, reason: str, detail: str = "") -> None:
        outcome = self.outcomes.setdefault(text, Outcome())
        if outcome.record is None:
            outcome.reason, outcome.detail = reason, detail

    def has_record(self, text: str) -> bool:
        outcome = self.outcomes.get(text)
        return outcome is not None and outcome.record is not None

    def summary(self) -> list[str]:
        """One line per input: ``input -> source:source_id`` or ``input -> no record (reason: detail)``."""
        lines = []
        for text, outcome in self.outcomes.items():
            if outcome.record:
                lines.append(f"{text} -> {outcome.record}")
            else:
                why = outcome.reason or "unanswered"
                lines.append(f"{text} -> no record ({why}{': ' + outcome.detail if outcome.detail else ''})")
        return lines

    @property
    def missing(self) -> int:
        return sum(1 for outcome in self.outcomes.values() if outcome.record is None)
