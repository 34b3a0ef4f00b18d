"""Whether the kubelet identity holds pull on a registry, read through the real
azure-mgmt-authorization client from the fake ARM (arm_fake.py): scopes, inheritance, groups,
built-in and custom roles, notActions, and ACR's ABAC mode with repository conditions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from arm_fake import (
    ACR_PULL,
    ACR_PUSH,
    CONTRIBUTOR,
    DATA_IMPORTER,
    READER,
    REPO_CONTRIBUTOR,
    REPO_READER,
    SUB,
    Arm,
    arm_session,
    pull_condition,
    registry,
    registry_id,
    rg_id,
    serve_arm,
)
from registry_server import TLSFiles

from gate.azure.arm import ArmDenied, ArmSession
from gate.azure.rbac import PullVerdict, RoleReader, decide

KUBELET = "6f0c9d1e-2b3a-4c5d-8e9f-0a1b2c3d4e5f"
GROUP = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
CONTOSO = registry_id("rg-acr", "contoso")
ABAC = registry_id("rg-acr", "contosoabac")


@pytest.fixture
def arm() -> Arm:
    return Arm(
        registries=[
            registry("rg-acr", "contoso"),
            registry("rg-acr", "contoso-dev"),
            registry("rg-acr", "contosoabac", abac=True),
        ]
    )


@pytest.fixture
def session(arm: Arm, tls_files: TLSFiles) -> Iterator[ArmSession]:
    with serve_arm(arm, tls_files) as server:
        yield arm_session(server)


def verdict(
    session: ArmSession, registry: str = CONTOSO, repository: str = "team-a/api"
) -> PullVerdict:
    grants = RoleReader(session, SUB).grants(registry, KUBELET)
    return decide(grants.grants, registry, registry == ABAC, repository)


# ---- default (legacy) mode ------------------------------------------------------------------


def test_acr_pull_at_the_registry_grants_pull(arm, session):
    arm.assign(CONTOSO, ACR_PULL, KUBELET)
    result = verdict(session)
    assert result.can_pull is True
    assert result.granted_by == ("AcrPull at the registry",)


def test_no_assignment_means_no_pull(session):
    result = verdict(session)
    assert result.can_pull is False
    assert result.summary() == "holds no role assignment on the registry or above it"


def test_acr_pull_on_the_resource_group_is_inherited(arm, session):
    arm.assign(rg_id("rg-acr"), ACR_PULL, KUBELET)
    result = verdict(session)
    assert result.can_pull is True
    assert result.granted_by == ("AcrPull at resource group rg-acr (inherited)",)


def test_reader_on_the_subscription_grants_pull_by_its_wildcard(arm, session):
    arm.assign(f"/subscriptions/{SUB}", READER, KUBELET)
    assert verdict(session).granted_by == (f"Reader at subscription {SUB} (inherited)",)


def test_a_role_on_a_registry_whose_name_starts_alike_does_not_count(arm, session):
    arm.assign(registry_id("rg-acr", "contoso-dev"), ACR_PUSH, KUBELET)
    arm.assign(rg_id("rg-acr-other"), ACR_PULL, KUBELET)
    result = verdict(session)
    assert result.can_pull is False and result.held == ()


def test_another_principals_pull_does_not_count(arm, session):
    arm.assign(CONTOSO, ACR_PULL, "0c0c0c0c-0c0c-4c0c-8c0c-0c0c0c0c0c0c")
    assert verdict(session).can_pull is False


def test_custom_role_granting_pull_only_through_a_wildcard_is_not_known(arm, session):
    role = arm.add_custom_role(
        "Registry reader (custom)", {"actions": ["Microsoft.ContainerRegistry/registries/*/read"]}
    )
    arm.assign(CONTOSO, role, KUBELET)
    result = verdict(session)
    assert result.can_pull is None
    assert result.wildcard == ("custom role Registry reader (custom) at the registry",)


def test_custom_role_listing_the_pull_action_grants_pull(arm, session):
    role = arm.add_custom_role(
        "Registry puller (custom)",
        {
            "actions": [
                "Microsoft.ContainerRegistry/*",
                "Microsoft.ContainerRegistry/registries/pull/read",
            ]
        },
    )
    arm.assign(CONTOSO, role, KUBELET)
    result = verdict(session)
    assert result.can_pull is True and result.wildcard == ()


def test_custom_role_with_only_a_wildcard_data_action_in_abac_mode_is_not_known(arm, session):
    role = arm.add_custom_role(
        "Repository reader (custom)", {"dataActions": ["Microsoft.ContainerRegistry/*"]}
    )
    arm.assign(ABAC, role, KUBELET)
    result = verdict(session, registry=ABAC)
    assert result.can_pull is None
    assert result.wildcard == ("custom role Repository reader (custom) at the registry",)


def test_not_actions_take_pull_away_from_a_wildcard(arm, session):
    role = arm.add_custom_role(
        "Registry operator without pull",
        {
            "actions": ["Microsoft.ContainerRegistry/*"],
            "notActions": ["Microsoft.ContainerRegistry/registries/pull/read"],
        },
    )
    arm.assign(CONTOSO, role, KUBELET)
    result = verdict(session)
    assert result.can_pull is False
    assert result.held == ("custom role Registry operator without pull at the registry",)


def test_contributor_keeps_pull_its_not_actions_do_not_touch(arm, session):
    arm.assign(rg_id("rg-acr"), CONTRIBUTOR, KUBELET)
    assert verdict(session).can_pull is True


def test_pull_through_a_group_the_identity_belongs_to(arm, session):
    arm.groups[KUBELET] = [GROUP]
    arm.assign(CONTOSO, ACR_PULL, GROUP, principal_type="Group")
    result = verdict(session)
    assert result.can_pull is True
    assert result.granted_by == (f"AcrPull at the registry via group {GROUP}",)


def test_without_assigned_to_the_direct_assignments_still_count(arm, session):
    arm.assigned_to_filter = False
    arm.groups[KUBELET] = [GROUP]
    arm.assign(CONTOSO, ACR_PULL, GROUP, principal_type="Group")
    arm.assign(rg_id("rg-acr"), ACR_PULL, KUBELET)
    grants = RoleReader(session, SUB).grants(CONTOSO, KUBELET)
    assert grants.groups_included is False
    assert [g.role.name for g in grants.grants] == ["AcrPull"]
    assert any("principalId eq" in r for r in arm.requests)


def test_a_management_group_assignment_counts(arm, session):
    mg = "/providers/Microsoft.Management/managementGroups/platform"
    arm.management_groups.append(mg)
    arm.assign(mg, ACR_PULL, KUBELET)
    assert verdict(session).granted_by == ("AcrPull at management group platform",)


@pytest.mark.parametrize("abac", [False, True])
def test_data_importer_and_data_reader_pulls_in_both_modes(arm, session, abac):
    target = ABAC if abac else CONTOSO
    arm.assign(target, DATA_IMPORTER, KUBELET)
    result = verdict(session, registry=target)
    assert result.can_pull is True
    assert result.granted_by == (
        "Container Registry Data Importer and Data Reader at the registry",
    )


def test_repository_roles_do_nothing_outside_abac_mode(arm, session):
    arm.assign(CONTOSO, REPO_READER, KUBELET)
    result = verdict(session)
    assert result.can_pull is False
    assert "need the registry in ABAC mode" in result.not_honoured[0]


def test_role_definitions_are_read_once_each(arm, session):
    for rg in ("rg-acr", "rg-other", "rg-third"):
        arm.assign(rg_id(rg), READER, KUBELET)
    arm.assign(CONTOSO, ACR_PULL, KUBELET)
    reader = RoleReader(session, SUB)
    reader.grants(CONTOSO, KUBELET)
    reader.grants(registry_id("rg-acr", "contoso-dev"), KUBELET)
    definitions = [r for r in arm.requests if "/roleDefinitions/" in r]
    assert len(definitions) == 2


def test_a_denied_read_of_role_assignments_says_which(arm, session):
    arm.forbidden.add(CONTOSO.lower() + "/providers/microsoft.authorization/roleassignments")
    with pytest.raises(ArmDenied) as caught:
        RoleReader(session, SUB).grants(CONTOSO, KUBELET)
    assert caught.value.scope == CONTOSO
    assert "roleAssignments/read" in caught.value.operation
    assert "AuthorizationFailed" in caught.value.message


# ---- ABAC mode ------------------------------------------------------------------------------


def test_abac_mode_ignores_acr_pull(arm, session):
    arm.assign(ABAC, ACR_PULL, KUBELET)
    arm.assign(rg_id("rg-acr"), CONTRIBUTOR, KUBELET)
    result = verdict(session, ABAC)
    assert result.can_pull is False
    assert result.not_honoured == (
        "AcrPull at the registry (not honoured: the registry is in ABAC mode)",
        "Contributor at resource group rg-acr (inherited) (not honoured: the registry is in ABAC"
        " mode)",
    )


def test_abac_repository_reader_without_condition_covers_every_repository(arm, session):
    arm.assign(ABAC, REPO_READER, KUBELET)
    assert verdict(session, ABAC, "anything/at-all").can_pull is True


def test_abac_condition_matching_the_repository_grants_pull(arm, session):
    arm.assign(
        ABAC,
        REPO_READER,
        KUBELET,
        condition=pull_condition("StringStartsWithIgnoreCase 'team-a/'"),
    )
    result = verdict(session, ABAC, "team-a/api")
    assert result.can_pull is True
    assert "condition lets team-a/api through" in result.granted_by[0]


def test_abac_condition_for_another_repository_denies_pull(arm, session):
    arm.assign(
        ABAC,
        REPO_CONTRIBUTOR,
        KUBELET,
        condition=pull_condition("StringEqualsIgnoreCase 'team-a/api'"),
    )
    result = verdict(session, ABAC, "team-b/api")
    assert result.can_pull is False
    assert result.not_honoured == (
        "Container Registry Repository Contributor at the registry (its condition excludes"
        " team-b/api)",
    )


def test_abac_condition_pullgate_cannot_evaluate_is_unknown_not_a_denial(arm, session):
    condition = pull_condition("StringStartsWithIgnoreCase 'team-a/'").replace(
        "@Request[Microsoft.ContainerRegistry/registries/repositories:name]",
        "@Principal[Microsoft.Directory/CustomSecurityAttributes/Id:Team]",
    )
    arm.assign(ABAC, REPO_READER, KUBELET, condition=condition)
    result = verdict(session, ABAC, "team-a/api")
    assert result.can_pull is None
    assert "not known before the deploy" in result.unevaluated[0]
