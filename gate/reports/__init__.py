"""Report formats: each renders an Outcome to text; `FORMATS` maps a --format name to it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gate.reports import azure, github, json_report, junit, markdown, sarif, text
from gate.runner import Outcome


@dataclass(frozen=True)
class RenderOptions:
    color: bool = False
    strict: bool = False
    # URL prefix that a file path appended to opens the file (e.g. a commit's blob URL); the
    # markdown report links findings to it.
    source_url: str | None = None


Renderer = Callable[[Outcome, RenderOptions], str]

FORMATS: dict[str, Renderer] = {
    "text": lambda outcome, opts: text.render(outcome, color=opts.color, strict=opts.strict),
    "json": lambda outcome, opts: json_report.render(outcome, strict=opts.strict),
    "sarif": lambda outcome, opts: sarif.render(outcome, strict=opts.strict),
    "junit": lambda outcome, opts: junit.render(outcome, strict=opts.strict),
    "github": lambda outcome, opts: github.render(outcome, strict=opts.strict),
    "azure": lambda outcome, opts: azure.render(outcome, strict=opts.strict),
    "markdown": lambda outcome, opts: markdown.render(
        outcome, strict=opts.strict, source_url=opts.source_url
    ),
}
