"""Text pullgate did not write (from manifests, the config, registries), made safe to print.

Output is read in CI logs, where a line is a command to the runner: GitHub Actions runs `::name::`
at the start of a line (after spaces) and `##[name]` anywhere in it, Azure Pipelines runs `##vso[`
anywhere and `##[` at the start. A terminal runs escape sequences. `clean` keeps such a value on
one line, shows its control characters as escapes (`\\x1b`, `\\n`) and breaks the command markers
with a visible backslash. Light on purpose: error messages use it too.
"""

from __future__ import annotations

import re

# C0 and C1 controls, DEL, bidirectional overrides and isolates, lone surrogates, line and
# paragraph separators: nothing a value needs, everything a terminal or log viewer acts on.
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# `##[` (GitHub's and Azure's older command form, anywhere in a line) and `##vso[` (Azure).
LOG_COMMAND = re.compile(r"##(vso)?\[", re.IGNORECASE)
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
    text = LOG_COMMAND.sub(lambda m: m.group()[:-1] + "\\[", text)
    return _LEADING_COMMAND.sub(r"\1\\:", text)


def clean_lines(text: str) -> str:
    """`clean` for each line of a whole output (line breaks kept): for outputs that quote what
    they read throughout, such as `explain`'s, where the runtime's words come from a registry."""
    return "\n".join(clean(line) for line in text.split("\n"))
