"""What a batch upload reports: one outcome per file, in input order."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["DUPLICATE", "INGESTED", "REFUSED", "FileOutcome", "IngestReport"]

INGESTED, DUPLICATE, REFUSED = "ingested", "duplicate", "refused"


@dataclass(frozen=True)
class FileOutcome:
    """What happened to one file of a batch.

    Attributes
    ----------
    name : str
        Display name of the file (``archive.zip/dir/x.dcm`` for archive members).
    status : str
        ``"ingested"``, ``"duplicate"`` or ``"refused"``.
    reason : str
        Why it was refused, or which case it duplicates.
    case_id : int | None
        The new case, or the existing case a duplicate matched.
    warning : str
        A note on an ingested file (e.g. burned-in annotation).
    """

    name: str
    status: str
    reason: str = ""
    case_id: int | None = None
    warning: str = ""

    def line(self) -> str:
        """One line for a report: ``name: reason``."""
        text = self.reason if self.status != INGESTED else f"case {self.case_id}"
        return f"{self.name}: {text}" + (f" (warning: {self.warning})" if self.warning else "")


@dataclass
class IngestReport:
    """Outcome of a batch: one :class:`FileOutcome` per file, in input order."""

    outcomes: list[FileOutcome] = field(default_factory=list)

    def _with(self, status: str) -> list[FileOutcome]:
        return [o for o in self.outcomes if o.status == status]

    @property
    def ingested(self) -> list[FileOutcome]:
        """Files that became new cases."""
        return self._with(INGESTED)

    @property
    def duplicates(self) -> list[FileOutcome]:
        """Files whose image is already a case of the project."""
        return self._with(DUPLICATE)

    @property
    def refused(self) -> list[FileOutcome]:
        """Files that could not be ingested, with the reason."""
        return self._with(REFUSED)

    @property
    def warnings(self) -> list[FileOutcome]:
        """Ingested files with a warning (burned-in annotation, dropped dates)."""
        return [o for o in self.outcomes if o.warning]

    @property
    def case_ids(self) -> list[int]:
        """Ids of the new cases."""
        return [o.case_id for o in self.ingested if o.case_id is not None]

    @property
    def total(self) -> int:
        """Number of files seen."""
        return len(self.outcomes)

    def extend(self, other: IngestReport) -> None:
        """Append another report's outcomes (used by remote imports)."""
        self.outcomes.extend(other.outcomes)

    def summary(self) -> str:
        """``N files: a ingested, b duplicates, c refused (w with warnings)``."""
        text = (
            f"{self.total} files: {len(self.ingested)} ingested, "
            f"{len(self.duplicates)} already present, {len(self.refused)} refused"
        )
        return text + (f" ({len(self.warnings)} with warnings)" if self.warnings else "")
