"""CSV cells that a spreadsheet cannot run as formulas (OWASP CSV injection).

Every CSV that MarkIt writes goes through :func:`csv_writer` (or
:func:`safe_cell`): a text cell that starts with ``=``, ``+``, ``-``, ``@``,
a tab or a carriage return gets a leading single quote, so Excel, LibreOffice
and Google Sheets show it as text instead of evaluating it. Numbers are
written as numbers (a negative kappa stays ``-0.2``); only strings are
touched, so a value read back with Python's csv module is the original text
with one ``'`` in front where it was neutralised.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

__all__ = ["FORMULA_PREFIXES", "SafeCsvWriter", "csv_writer", "safe_cell"]

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_PREFIX_CHARS = frozenset(FORMULA_PREFIXES)


def safe_cell(value: Any) -> Any:
    """``value`` unchanged unless it is text a spreadsheet would treat as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


class SafeCsvWriter:
    """A ``csv.writer`` whose every row passes through :func:`safe_cell`.

    ``text_columns``: the only columns that can hold free text (names a user typed); a
    large export whose other cells are numbers or MarkIt's own words checks just those.
    """

    def __init__(self, stream: TextIO, text_columns: Sequence[int] | None = None) -> None:
        self._text = tuple(text_columns) if text_columns is not None else None
        self._writer = csv.writer(stream, lineterminator="\n")
        # csv quotes only the line terminator's characters, so with "\n" line ends a bare
        # "\r" inside a cell would split the row for a reader: such rows are fully quoted
        self._quoted = csv.writer(stream, lineterminator="\n", quoting=csv.QUOTE_ALL)

    def writerow(self, row: Iterable[Any]) -> None:
        # safe_cell inlined, one pass over the cells: exports write millions of them
        if self._text is not None:  # a list is the caller's own copy: changed in place
            self._write_checking(row if isinstance(row, list) else list(row), self._text)
            return
        cells = list(row)
        has_cr = False
        for i, v in enumerate(cells):
            if isinstance(v, str) and v:
                if v[0] in _PREFIX_CHARS:
                    cells[i] = "'" + v
                if "\r" in v:
                    has_cr = True
        (self._quoted if has_cr else self._writer).writerow(cells)

    def _write_checking(self, cells: list[Any], columns: tuple[int, ...]) -> None:
        has_cr = False
        for i in columns:
            v = cells[i]
            if isinstance(v, str) and v:
                if v[0] in _PREFIX_CHARS:
                    cells[i] = "'" + v
                if "\r" in v:
                    has_cr = True
        (self._quoted if has_cr else self._writer).writerow(cells)

    def writerows_prepared(self, rows: Iterable[Sequence[Any]]) -> None:
        """Write rows whose text cells were neutralised already (e.g. by the database, as
        :func:`safe_cell` does) and hold no ``\r``: the csv module writes them in C."""
        self._writer.writerows(rows)

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def csv_writer(stream: TextIO, text_columns: Sequence[int] | None = None) -> SafeCsvWriter:
    """The writer every MarkIt CSV export uses (UTF-8 text, ``\\n`` line ends)."""
    return SafeCsvWriter(stream, text_columns)
