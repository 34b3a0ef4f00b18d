"""Report formats: each renders an Outcome to text; `FORMATS` maps a --format name to it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gate.reports import azure, github, json_report, junit, markdown, sarif, text
from gate.reports.safe import encode_json, encode_xml, safe_outcome
from gate.runner import Outcome


@dataclass(frozen=True)
class RenderOptions:
    color: bool = False
    strict: bool = False
    # URL prefix that a file path appended to opens the file (e.g. a commit's blob URL); the
    # markdown report links findings to it.
    source_url: str | None = None
    verbose: bool = False  # text: list the images that passed too


Renderer = Callable[[Outcome, RenderOptions], str]

# Every format may be printed into a CI log: the human ones get values made safe to print
# (safe_outcome), the data ones keep them exact in their own escapes (encode_json, encode_xml).
FORMATS: dict[str, Renderer] = {
    "text": lambda outcome, opts: text.render(
        safe_outcome(outcome), color=opts.color, strict=opts.strict, verbose=opts.verbose
    ),
    "json": lambda outcome, opts: encode_json(json_report.render(outcome, strict=opts.strict)),
    "sarif": lambda outcome, opts: encode_json(sarif.render(outcome, strict=opts.strict)),
    "junit": lambda outcome, opts: encode_xml(
        junit.render(safe_outcome(outcome), strict=opts.strict)
    ),
    "github": lambda outcome, opts: github.render(safe_outcome(outcome), strict=opts.strict),
    "azure": lambda outcome, opts: azure.render(safe_outcome(outcome), strict=opts.strict),
    "markdown": lambda outcome, opts: markdown.render(
        safe_outcome(outcome), strict=opts.strict, source_url=opts.source_url
    ),
}
