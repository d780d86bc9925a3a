"""CSV that spreadsheets cannot run: a cell that starts with ``= + - @`` (or a tab or a
carriage return) is a formula to Excel and LibreOffice (``=HYPERLINK(...)``, DDE), so
every CSV the app writes goes through ``csv_writer``, which prefixes such a cell with
``'``. Plain numbers (an E.164 phone ``+12134567890``, ``-5``) cannot call anything and
are written as they are, so exported phones stay phones.
"""

import csv
import re
from collections.abc import Iterable
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")


def safe_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_START):
        if not _PLAIN_NUMBER.fullmatch(value):
            return "'" + value
    return value


class SafeWriter:
    """``csv.writer`` with every cell neutralised."""

    def __init__(self, stream: Any, **kwargs: Any) -> None:
        self._writer = csv.writer(stream, **kwargs)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([safe_cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def csv_writer(stream: Any, **kwargs: Any) -> SafeWriter:
    return SafeWriter(stream, **kwargs)
