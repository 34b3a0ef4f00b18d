"""Values pullgate did not write (from manifests, the config, registries) made safe to print.

Reports are printed into CI logs, where a line is a command to the runner: GitHub Actions runs
`::name::` at the start of a line (after spaces) and `##[name]` anywhere in it, Azure Pipelines
runs `##vso[` anywhere and `##[` at the start. A terminal runs escape sequences. So every such
value is kept on one line, its control characters shown as escapes (`\\x1b`, `\\n`), and the
command markers broken with a visible backslash. The data formats (JSON, SARIF, JUnit) keep the
value exact and encode the same characters in their own escapes instead (`encode_json`).
"""

from __future__ import annotations

import dataclasses
import re
from typing import TypeVar

from gate.runner import Outcome

T = TypeVar("T")

# C0 and C1 controls, DEL, bidirectional overrides and isolates, lone surrogates, line and
# paragraph separators: nothing a value needs, everything a terminal or log viewer acts on.
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# `##[` (GitHub's and Azure's older command form, anywhere in a line) and `##vso[` (Azure).
_LOG_COMMAND = re.compile(r"##(vso)?\[", re.IGNORECASE)
_LEADING_COMMAND = re.compile(r"^(\s*):(?=:)")


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(text: str) -> str:
    """`text` on one line, with no control character, no CI log command and no way to start
    one where it is printed at the start of a line."""
    text = _UNSAFE.sub(_escape_char, text)
    text = _LOG_COMMAND.sub(lambda m: m.group()[:-1] + "\\[", text)
    return _LEADING_COMMAND.sub(r"\1\\:", text)


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
