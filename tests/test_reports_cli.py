"""`--format` pairing: one run writes several reports, at most one of them to stdout."""

import json

import pytest
from click.testing import CliRunner
from outcomes import MIXED, write

from gate.cli import FORMAT_NAMES, main
from gate.reports import FORMATS


@pytest.fixture
def manifest(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return str(write(tmp_path, MIXED))


def run(*args):
    return CliRunner().invoke(main, ["check", "--offline", *args])


def test_cli_offers_exactly_the_registered_formats():
    assert set(FORMAT_NAMES) == set(FORMATS)


def test_one_run_writes_several_reports(tmp_path, manifest):
    result = run(
        manifest,
        "--format",
        "github",
        "--format",
        "sarif=report.sarif",
        "--format",
        "junit=results.xml",
        "--format",
        "json=report.json",
        "--format",
        "markdown=summary.md",
    )
    assert result.exit_code == 1
    assert result.stdout.startswith("::group::")
    assert json.loads((tmp_path / "report.sarif").read_text())["version"] == "2.1.0"
    assert (tmp_path / "results.xml").read_text().startswith("<?xml")
    assert json.loads((tmp_path / "report.json").read_text())["result"] == "fail"
    assert (tmp_path / "summary.md").read_text().startswith("## ❌ pullgate: FAIL")


def test_output_is_the_file_of_the_format_without_one(tmp_path, manifest):
    result = run(manifest, "--format", "json", "--format", "sarif=r.sarif", "--output", "r.json")
    assert result.exit_code == 1
    assert result.stdout.startswith("pullgate ")  # every report in a file: text on stdout
    assert json.loads((tmp_path / "r.json").read_text())["result"] == "fail"
    assert (tmp_path / "r.sarif").exists()


def test_two_reports_for_stdout_are_a_usage_error(manifest):
    result = run(manifest, "--format", "json", "--format", "sarif")
    assert result.exit_code == 2
    assert "only one report can go to stdout" in result.stderr
    assert "--format sarif=FILE" in result.stderr


def test_output_without_a_stdout_report_is_a_usage_error(manifest):
    result = run(manifest, "--format", "json=a.json", "--output", "b.json")
    assert result.exit_code == 2
    assert "--output" in result.stderr


def test_unknown_format_is_a_usage_error(manifest):
    result = run(manifest, "--format", "yaml")
    assert result.exit_code == 2
    assert "'yaml' is not one of" in result.stderr


def test_unwritable_report_file_is_a_usage_error(tmp_path, manifest):
    result = run(manifest, "--format", f"json={tmp_path}/missing/dir/r.json")
    assert result.exit_code == 2
    assert "cannot write json report" in result.stderr


def test_default_is_text_on_stdout(manifest):
    result = run(manifest)
    assert result.exit_code == 1
    assert "ERROR invalid-reference" in result.stdout
