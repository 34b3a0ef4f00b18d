"""Report formats: each renders an Outcome to text; `FORMATS` maps a --format name to it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gate.reports import json_report, text
from gate.runner import Outcome


@dataclass(frozen=True)
class RenderOptions:
    color: bool = False
    strict: bool = False


Renderer = Callable[[Outcome, RenderOptions], str]

FORMATS: dict[str, Renderer] = {
    "text": lambda outcome, opts: text.render(outcome, color=opts.color, strict=opts.strict),
    "json": lambda outcome, opts: json_report.render(outcome, strict=opts.strict),
}
