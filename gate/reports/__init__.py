"""Report formats: each renders an Outcome to text; `FORMATS` maps a --format name to it.
Each format's module is imported when it renders: a run pays only for the formats it writes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING

from gate.reports.safe import encode_json, encode_xml, safe_outcome

if TYPE_CHECKING:
    from gate.runner import Outcome


@dataclass(frozen=True)
class RenderOptions:
    color: bool = False
    strict: bool = False
    # URL prefix that a file path appended to opens the file (e.g. a commit's blob URL); the
    # markdown report links findings to it.
    source_url: str | None = None
    verbose: bool = False  # text: list the images that passed too


Renderer = Callable[["Outcome", RenderOptions], str]


def _format(module: str) -> Callable[[], Callable[..., str]]:
    return lambda: import_module(f"gate.reports.{module}").render


_text, _json, _sarif = _format("text"), _format("json_report"), _format("sarif")
_junit, _github, _azure, _markdown = (
    _format("junit"),
    _format("github"),
    _format("azure"),
    _format("markdown"),
)

# Every format may be printed into a CI log: the human ones get values made safe to print
# (safe_outcome), the data ones keep them exact in their own escapes (encode_json, encode_xml).
FORMATS: dict[str, Renderer] = {
    "text": lambda outcome, opts: _text()(
        safe_outcome(outcome), color=opts.color, strict=opts.strict, verbose=opts.verbose
    ),
    "json": lambda outcome, opts: encode_json(_json()(outcome, strict=opts.strict)),
    "sarif": lambda outcome, opts: encode_json(_sarif()(outcome, strict=opts.strict)),
    "junit": lambda outcome, opts: encode_xml(_junit()(safe_outcome(outcome), strict=opts.strict)),
    "github": lambda outcome, opts: _github()(safe_outcome(outcome), strict=opts.strict),
    "azure": lambda outcome, opts: _azure()(safe_outcome(outcome), strict=opts.strict),
    "markdown": lambda outcome, opts: _markdown()(
        safe_outcome(outcome), strict=opts.strict, source_url=opts.source_url
    ),
}
