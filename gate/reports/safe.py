"""Reports print into CI logs and terminals: the human formats get values made safe to print
(`safe_outcome`, with gate.safe_text.clean), the data formats (JSON, SARIF, JUnit) keep them exact
and encode the markers in their own escapes instead (`encode_json`, `encode_xml`).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, TypeVar

from gate.safe_text import LOG_COMMAND as _LOG_COMMAND
from gate.safe_text import clean

if TYPE_CHECKING:
    from gate.runner import Outcome

__all__ = ["clean", "encode_json", "encode_xml", "safe_outcome"]

T = TypeVar("T")


def _cleaned(value: T) -> T:
    if type(value) is str:  # not a str enum such as Severity
        return clean(value)  # type: ignore[return-value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: _cleaned(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return dataclasses.replace(value, **changes)
    return value


def safe_outcome(outcome: Outcome) -> Outcome:
    """A copy of `outcome` whose findings, ignored findings and notes carry only clean text."""
    return dataclasses.replace(
        outcome,
        findings=[_cleaned(f) for f in outcome.findings],
        suppressed=[_cleaned(s) for s in outcome.suppressed],
        notes=[_cleaned(n) for n in outcome.notes],
    )


def encode_json(text: str) -> str:
    """JSON text from json.dumps (which escapes controls and, with ensure_ascii, everything
    else outside ASCII) that decodes to the same values but holds no log command."""
    return _LOG_COMMAND.sub(lambda m: m.group()[:-1] + "\\u005b", text)


def encode_xml(text: str) -> str:
    """Serialised XML with the `[` of every log command as a character reference: the same
    document, no log command."""
    return _LOG_COMMAND.sub(lambda m: m.group()[:-1] + "&#91;", text)
