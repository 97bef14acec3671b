"""What a dataset generation run did; every domain's generator returns it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class GenerationSummary:
    """Counts of one generation run.

    Args:
        planned: items (polars, structures) the request asks for.
        already_present: of those, items the store held before this run (a resumed run skips them).
        written: items simulated and stored by this run.
        failed: of those written, items stored with a failure status.
        by_status: count of this run's simulated items per status ("ok", "failed: ...", "timeout"), stored or not.
    """

    planned: int
    already_present: int = 0
    written: int = 0
    failed: int = 0
    by_status: dict = field(default_factory=dict)
