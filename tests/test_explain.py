"""`pullgate explain`: real-world kubectl output and runtime messages name their cause."""

import json
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from gate.causes import CATALOG
from gate.cli import main
from gate.explain import classify, explain

DATA = Path(__file__).parent / "data" / "explain"
CASES = yaml.safe_load((DATA / "cases.yaml").read_text())
FIELDS = {
    "image": lambda f: f.image,
    "container": lambda f: f.container,
    "container_type": lambda f: f.container_kind,
    "pod": lambda f: f.pod.name,
    "namespace": lambda f: f.pod.namespace,
    "node": lambda f: f.pod.node,
    "statuses": lambda f: f.statuses,
    "also": lambda f: list(f.also),
}


def run(*args, stdin=None):
    return CliRunner().invoke(main, ["explain", *args], input=stdin)


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_input_gets_its_expected_explanation(name):
    expected = CASES[name]
    result = explain((DATA / name).read_text())
    got = [
        {"cause": f.cause.id if f.cause else None} | {k: FIELDS[k](f) for k in want if k != "cause"}
        for f, want in zip(result.failures, expected["failures"], strict=False)
    ]
    assert len(result.failures) == len(expected["failures"])
    assert got == expected["failures"]
    if "observations" in expected:
        assert [o.state for o in result.observations] == expected["observations"]


def test_every_pull_failure_row_has_a_real_world_sample():
    pull_statuses = ("ErrImagePull", "ErrImageNeverPull", "InvalidImageName")
    shown = {c.id for c in CATALOG.values() if c.patterns and c.status in pull_statuses}
    covered = {f["cause"] for case in CASES.values() for f in case["failures"]}
    corpus = yaml.safe_load((DATA / "corpus.yaml").read_text())["messages"]
    assert shown <= covered | {m["label"] for m in corpus}


def test_the_files_in_the_folder_are_all_cases():
    files = {p.name for p in DATA.iterdir()} - {"cases.yaml", "corpus.yaml"}
    assert files == set(CASES)


def test_explain_prints_the_row_image_container_and_commands():
    result = run(str(DATA / "describe-acr-unauthorized.txt"))
    assert result.exit_code == 1
    out = result.stdout
    assert "ERROR unauthorized: Pull not authorized" in out
    assert "Image:     contosoprod.azurecr.io/payments/api:2.14.0" in out
    assert "container api in pod payments/api-6c9f8d7b5d-x2x7q" in out
    assert "Confirm:   az aks check-acr" in out
    assert "--attach-acr contosoprod" in out
    assert "kubectl create secret docker-registry contosoprod-pull -n payments" in out


def test_explain_reads_stdin():
    text = (DATA / "describe-init-platform.txt").read_text()
    result = run("-", stdin=text)
    assert result.exit_code == 1
    assert "platform-mismatch" in result.stdout
    assert "init container migrate" in result.stdout
    assert "docker buildx imagetools inspect ghcr.io/acme-data/reports-migrate:1.8.2" in (
        result.stdout
    )


def test_json_output_carries_cause_confirm_and_fix():
    result = run(str(DATA / "crio-quay-unauthorized.txt"), "--format", "json")
    document = json.loads(result.stdout)
    [failure] = document["failures"]
    assert failure["cause"] == "unauthorized"
    assert failure["container"] == "ingest" and failure["namespace"] == "pipelines"
    assert failure["confirm"] and failure["fix"]
    assert document["pull_failures"] == 1


def test_crashloop_is_plainly_not_a_pull_problem():
    result = run(str(DATA / "crashloop.txt"))
    assert result.exit_code == 0
    assert "no image pull failure" in result.stdout
    assert "the image was pulled" in result.stdout
    assert "kubectl logs worker-5c7d9f8b6-wq8zx -n jobs -c worker --previous" in result.stdout


def test_pending_says_no_pull_was_attempted():
    result = run(str(DATA / "pending-unscheduled.txt"))
    assert result.exit_code == 0
    assert "no pull was attempted" in result.stdout
    assert "Insufficient nvidia.com/gpu" in result.stdout


def test_only_pulling_events_say_wait():
    result = run(str(DATA / "pulling-only.txt"))
    assert result.exit_code == 0
    assert "slow pull" in result.stdout and "Wait" in result.stdout


def test_text_without_any_pull_failure_says_so():
    result = run("-", stdin='Error from server (NotFound): pods "web" not found\n')
    assert result.exit_code == 0
    assert "no image pull failure in this text" in result.stdout


def test_status_without_message_asks_for_the_events():
    result = run(str(DATA / "get-pods.txt"))
    assert result.exit_code == 1
    assert "kubectl describe pod api-6c9f8d7b5d-x2x7q | pullgate explain -" in result.stdout


def test_a_name_that_looks_like_a_cause_does_not_decide_it():
    message = (
        'Failed to pull image "acme/x509-unauthorized-tools:1": rpc error: code = NotFound desc ='
        ' failed to pull and unpack image "docker.io/acme/x509-unauthorized-tools:1": failed to'
        ' resolve reference "docker.io/acme/x509-unauthorized-tools:1":'
        " docker.io/acme/x509-unauthorized-tools:1: not found"
    )
    [failure] = explain(message).failures
    assert failure.cause.id == "tag-not-found"


def test_an_aggregate_with_a_missing_tag_and_a_refusal_is_the_missing_tag():
    cause, also = classify(
        "[rpc error: code = Unknown desc = Error response from daemon: manifest for"
        " r.example/a:1 not found: manifest unknown, rpc error: code = Unknown desc = Error"
        " response from daemon: Get https://r.example/v2/a/manifests/1: unauthorized:"
        " authentication required]"
    )
    assert cause.id == "tag-not-found" and also == ("unauthorized",)


def test_unreadable_file_is_a_usage_error(tmp_path):
    result = run(str(tmp_path / "missing.txt"))
    assert result.exit_code == 2
    assert "cannot read" in result.stderr


def test_a_huge_paste_is_read_in_bounded_time():
    started = time.monotonic()
    text = "a/b" * 200_000 + "\n" + 'Failed to pull image "x:1": ' + "c" * 300_000
    [failure] = explain(text).failures
    assert failure.image == "x:1"
    assert time.monotonic() - started < 10
