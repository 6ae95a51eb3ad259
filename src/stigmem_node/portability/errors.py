"""The one error of export, import and backup: a message an operator can act on."""

from __future__ import annotations


class PortabilityError(Exception):
    """An export, import or backup refused; ``line`` is the export file's line, if any."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(f"line {line}: {message}" if line is not None else message)
        self.line = line
