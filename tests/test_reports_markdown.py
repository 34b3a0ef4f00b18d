"""`--format markdown`: the cause table for the job summary or a PR comment."""

from outcomes import CLEAN, MIXED, NGINX_LINE, offline, write

from gate.config import load_config
from gate.reports import markdown


def rows(text):
    return [line for line in text.splitlines() if line.startswith("| ") and "---" not in line][1:]


def test_one_row_per_cause_and_image_with_where_and_fix(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    outcome = offline(write(tmp_path, MIXED))
    text = markdown.render(outcome)
    assert text.startswith("## ❌ pullgate: FAIL")
    table = rows(text)
    groups = {(f.cause, f.resolved or f.use.image) for f in outcome.findings}
    assert len(table) == len(groups)
    [nginx] = [r for r in table if "**mutable-tag**" in r]
    assert f"`app.yaml:{NGINX_LINE}`" in nginx
    assert "Deployment shop/web, container web" in nginx


def test_findings_link_to_the_commit_when_a_source_url_is_known(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = markdown.render(
        offline(write(tmp_path, MIXED)), source_url="https://git.example/o/r/blob/abc"
    )
    assert f"(https://git.example/o/r/blob/abc/app.yaml#L{NGINX_LINE})" in text


def test_pipes_in_values_do_not_break_the_table():
    assert markdown.cell("a|b\nc") == "a\\|b<br>c"


def test_clean_run_says_every_image_will_pull(tmp_path):
    text = markdown.render(offline(write(tmp_path, CLEAN)))
    assert text.startswith("## ✅ pullgate: PASS")
    assert "Every image will pull." in text


def test_ignored_findings_are_listed_with_their_reason(tmp_path):
    config = write(
        tmp_path,
        "ignore:\n  - image: nginx*\n    reason: dev namespace only\n",
        ".pullgate.yaml",
    )
    text = markdown.render(offline(write(tmp_path, MIXED), load_config(config).policy))
    assert "**Ignored by policy** (2)" in text
    assert "dev namespace only" in text
