"""ABAC role assignment conditions as ACR uses them: which repositories they let a pull through."""

from __future__ import annotations

import pytest
from arm_fake import pull_condition

from gate.azure.conditions import condition_allows, glob_matches
from gate.azure.rbac import CONTENT_READ
from gate.causes import CATALOG

NAME = "@Request[Microsoft.ContainerRegistry/registries/repositories:name]"


def allows(condition: str, repository: str) -> bool | None:
    return condition_allows(condition, CONTENT_READ, repository).value


@pytest.mark.parametrize(
    ("clause", "repository", "expected"),
    [
        ("StringEqualsIgnoreCase 'team-a/api'", "team-a/api", True),
        ("StringEqualsIgnoreCase 'Team-A/API'", "team-a/api", True),
        ("StringEqualsIgnoreCase 'team-a/api'", "team-a/api-v2", False),
        ("StringStartsWithIgnoreCase 'team-a/'", "team-a/api", True),
        ("StringStartsWithIgnoreCase 'TEAM-A/'", "team-a/web/frontend", True),
        ("StringStartsWithIgnoreCase 'team-a/'", "team-b/api", False),
        ("StringEquals 'Team-A/api'", "team-a/api", False),
        ("StringNotStartsWithIgnoreCase 'team-b/'", "team-a/api", True),
        ("StringLikeIgnoreCase 'team-*/api'", "team-c/api", True),
        ("ForAnyOfAnyValues:StringEqualsIgnoreCase {'a/one', 'a/two'}", "a/two", True),
        ("ForAnyOfAnyValues:StringEqualsIgnoreCase {'a/one', 'a/two'}", "a/three", False),
    ],
)
def test_repository_clause_decides_the_pull(clause, repository, expected):
    assert allows(pull_condition(clause), repository) is expected


def test_or_of_prefixes_lets_either_team_through():
    condition = pull_condition(
        "StringStartsWithIgnoreCase 'team-a/'", "StringStartsWithIgnoreCase 'shared/'"
    )
    assert allows(condition, "shared/base") is True
    assert allows(condition, "team-c/api") is False


def test_and_needs_both_clauses():
    condition = pull_condition(
        "StringStartsWithIgnoreCase 'team-a/'",
        "StringNotEqualsIgnoreCase 'team-a/secret'",
        joiner="AND",
    )
    assert allows(condition, "team-a/api") is True
    assert allows(condition, "team-a/secret") is False


def test_symbol_operators_and_not_keyword_are_understood():
    condition = (
        "(!(ActionMatches{'Microsoft.ContainerRegistry/registries/repositories/content/read'})"
        f" || (NOT ({NAME} StringEqualsIgnoreCase 'blocked/app') && {NAME}"
        " StringStartsWithIgnoreCase 'apps/'))"
    )
    assert allows(condition, "apps/web") is True
    assert allows(condition, "blocked/app") is False


def test_condition_on_other_actions_does_not_restrict_the_pull():
    condition = (
        "((!(ActionMatches{'Microsoft.ContainerRegistry/registries/repositories/content/write'}))"
        f" OR ({NAME} StringStartsWithIgnoreCase 'ci/'))"
    )
    assert allows(condition, "team-a/api") is True


def test_action_wildcards_match_like_azure():
    assert glob_matches(
        "Microsoft.ContainerRegistry/*/read", "microsoft.containerregistry/registries/pull/read"
    )
    assert glob_matches("*", "anything/at/all")
    assert not glob_matches("Microsoft.ContainerRegistry/registries/push/*", CONTENT_READ)


def test_principal_attribute_cannot_be_evaluated_and_says_so():
    condition = pull_condition("StringStartsWithIgnoreCase 'team-a/'").replace(
        NAME, "@Principal[Microsoft.Directory/CustomSecurityAttributes/Id:Engineering_Team]"
    )
    result = condition_allows(condition, CONTENT_READ, "team-a/api")
    assert result.value is None
    assert "@Principal[" in result.unknown[0] and "not known before the deploy" in result.unknown[0]


def test_a_known_false_branch_settles_an_and_with_an_unknown_part():
    condition = pull_condition(
        "StringStartsWithIgnoreCase 'team-a/'",
        joiner="AND",
    ).replace(
        f"({NAME} StringStartsWithIgnoreCase 'team-a/')",
        f"({NAME} StringStartsWithIgnoreCase 'team-a/' AND"
        " @Environment[UtcNow] DateTimeGreaterThan '2030-01-01T00:00:00.0Z')",
    )
    assert allows(condition, "team-b/api") is False
    assert allows(condition, "team-a/api") is None


def test_garbage_is_unevaluable_not_an_exception():
    result = condition_allows("((ActionMatches{'x'} OR", CONTENT_READ, "a/b")
    assert result.value is None and "does not parse" in result.unknown[0]


def test_the_fix_commands_condition_grants_exactly_that_repository():
    fix = CATALOG["acr-not-attached"].render_fix(
        "acr-abac", {"object_id": "oid", "registry_id": "/x", "repository": "team-a/api"}
    )
    condition = fix.split('--condition "', 1)[1].split('" --condition-version', 1)[0]
    assert allows(condition, "team-a/api") is True
    assert allows(condition, "team-a/api-internal") is False
