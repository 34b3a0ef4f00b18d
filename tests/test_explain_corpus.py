"""`pullgate explain` measured on real messages from public issue trackers (tests/data/explain).

The corpus holds what users pasted (kubelet events, runtime errors, journal lines, Event objects,
k9s views), each labelled with the cause the maintainers' diagnosis or the working fix points at.
"""

from pathlib import Path

import pytest
import yaml

from gate.causes import CATALOG, fill
from gate.explain import explain

CORPUS = yaml.safe_load((Path(__file__).parent / "data" / "explain" / "corpus.yaml").read_text())
CASES = yaml.safe_load((Path(__file__).parent / "data" / "explain" / "cases.yaml").read_text())
MESSAGES = CORPUS["messages"]
MISSES = {m["id"]: m for m in CORPUS["misses"]}


def named_cause(text: str) -> str | None:
    """The cause `explain` names for a paste: the first failure with a cause, else none."""
    for failure in explain(text).failures:
        if failure.cause is not None:
            return failure.cause.id
    return None


def test_the_corpus_holds_at_least_200_sourced_and_labelled_messages():
    assert len(MESSAGES) >= 200
    assert len({m["id"] for m in MESSAGES}) == len(MESSAGES)
    for m in MESSAGES:
        assert m["source"].startswith("https://github.com/"), m["id"]
        assert m["why"].strip() and m["text"].strip(), m["id"]
        assert m["label"] is None or m["label"] in CATALOG, m["id"]


def test_explain_names_the_maintainers_cause_for_97_percent_of_the_corpus():
    wrong = [m["id"] for m in MESSAGES if named_cause(m["text"]) != m["label"]]
    assert 1 - len(wrong) / len(MESSAGES) >= 0.97, wrong


def test_the_misses_listed_in_the_corpus_are_exactly_the_misses():
    got = {m["id"]: named_cause(m["text"]) for m in MESSAGES}
    wrong = {i for i, m in zip(got, MESSAGES, strict=True) if got[i] != m["label"]}
    assert wrong == set(MISSES)
    for miss_id, miss in MISSES.items():
        assert got[miss_id] == miss["got"], miss_id


def test_the_corpus_covers_every_output_form_the_issue_names():
    forms = " ".join(m["form"] for m in MESSAGES)
    for form in (
        "journal",
        "Event as YAML",
        "Event as JSON",
        "get events",
        "old wide",
        "k9s",
        "hard-wrapped",
        "curly",
        "OpenShift console",
        "json-escaped",
    ):
        assert form in forms, form


def test_distractors_are_not_pull_failures():
    distractors = [m for m in MESSAGES if m["label"] is None]
    assert len(distractors) >= 10
    for m in distractors:
        assert explain(m["text"]).failures == [], m["id"]


SIGNATURE_DETAIL = {"registry-error": "503 Service Unavailable"}
RUNTIME_CAUSES = sorted(c.id for c in CATALOG.values() if c.patterns)
SIGNATURE_VALUES = {
    "image": "registry.example.com/team/app:1.0",
    "resolved": "registry.example.com/team/app:1.0",
    "registry": "registry.example.com",
    "registry_host": "registry.example.com",
    "registry_hostname": "registry.example.com",
    "repository": "team/app",
    "reference": "1.0",
    "detail": "",
    "digest": "0" * 64,
    "got": "1" * 64,
    "token_kind": "anonymous",
    "realm": "https://registry.example.com/token",
    "missing_platforms": "linux/arm64",
    "secret": "regcred",
    "placement": "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector",
    "namespace": "shop",
    "service_account": "deployer",
    "name": "web",
    "file": "deploy.yaml",
}


def _not_a_pull(cause_id: str) -> bool:
    """Rows whose words are the API's or the scheduler's, not a pull's."""
    return CATALOG[cause_id].status not in ("ErrImagePull", "ErrImageNeverPull", "InvalidImageName")


PULL_CAUSES = [c for c in RUNTIME_CAUSES if not _not_a_pull(c)]
NOT_PULL_CAUSES = [c for c in RUNTIME_CAUSES if _not_a_pull(c)]


def _signature(cause_id: str) -> str:
    values = SIGNATURE_VALUES | {"detail": SIGNATURE_DETAIL.get(cause_id, "")}
    return fill(CATALOG[cause_id].signature, values)


@pytest.mark.parametrize("cause_id", PULL_CAUSES)
def test_every_pull_cause_is_named_from_its_own_events_signature(cause_id):
    signature = _signature(cause_id)
    if cause_id == "pull-secret-missing":  # a warning alone; with the refused pull, the cause
        signature += "\n" + _signature("unauthorized")
    assert named_cause(signature) == cause_id, signature


@pytest.mark.parametrize("cause_id", NOT_PULL_CAUSES)
def test_an_api_or_scheduler_message_is_not_taken_for_a_pull_failure(cause_id):
    """`check` predicts these (no namespace, no ServiceAccount, no node to run on); their
    words are not a pull's, and explain must not name a pull failure from them."""
    assert explain(_signature(cause_id)).failures == [], cause_id


@pytest.mark.parametrize("cause_id", PULL_CAUSES)
def test_every_pull_cause_has_a_real_world_sample(cause_id):
    samples = [m for m in MESSAGES if m["label"] == cause_id]
    in_cases = any(f["cause"] == cause_id for c in CASES.values() for f in c["failures"])
    assert samples or in_cases


# Rows `check` predicts before a deploy from what it knows beyond the runtime's words (pull
# secrets, Azure role assignments, policy): on a node they surface as the runtime-visible cause.
SURFACES_AS = {
    "pull-secret-no-match": "unauthorized",
    "pull-secret-rejected": "unauthorized",
    "acr-not-attached": "unauthorized",
    "registry-network-restricted": "unauthorized",
    "aks-egress-firewall": "unreachable",  # the node's pull times out dialling the registry
    "digest-mismatch": "corrupt-layer",  # containerd: failed commit on ref, unexpected digest
    "pull-secret-malformed": None,  # its Events line carries the runtime's detail, absent here
}
CHECK_ONLY_CAUSES = sorted(c.id for c in CATALOG.values() if not c.patterns)


@pytest.mark.parametrize("cause_id", CHECK_ONLY_CAUSES)
def test_every_check_only_cause_is_read_as_what_the_node_shows(cause_id):
    signature = fill(CATALOG[cause_id].signature, SIGNATURE_VALUES)
    result = explain(signature)
    if cause_id in SURFACES_AS:
        assert named_cause(signature) == SURFACES_AS[cause_id]
        assert len(result.failures) == 1
    else:  # a policy, Azure or manifest finding: no pull failed
        assert result.failures == []
