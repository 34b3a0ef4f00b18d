"""Does a principal hold pull on a registry (or, in ABAC mode, on one repository)?

Role assignments come from `role_assignments.list_for_scope(registry id)`, filtered to the
principal with `assignedTo('{id}')` (which includes its group memberships; `principalId eq` when
the API refuses that filter). ARM returns the principal's assignments at, above and below the
scope; those that apply are at the registry or a parent: the resource group, the subscription, a
management group (scopes compared case-insensitively). Role definitions are read once each.

Default mode: a role grants pull when one of its permission blocks has an action matching
`Microsoft.ContainerRegistry/registries/pull/read` that no notAction of the block takes away
(wildcards as in Azure: `*`, `*/read`, `Microsoft.ContainerRegistry/*`). ABAC mode
(`roleAssignmentMode` AbacRepositoryPermissions): only data actions count
(`.../registries/repositories/content/read`, from Container Registry Repository Reader,
Writer, Contributor or custom roles) and a condition on the assignment must let the repository
through; AcrPull, AcrPush, Owner, Contributor and Reader grant nothing there.

Built-in roles are judged by ACR's roles directory (BUILT_IN_PULL), not by their permissions alone:
"Container Registry Data Importer and Data Reader" pulls in both modes through its
`registries/pull/read` action. Custom roles are judged by their permissions; a custom role that
reaches the pull action only through a wildcard is honoured only in tenants with ARM Private Link
(ACR custom roles page), which pullgate cannot see: such a grant is reported, not counted silently.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from gate.azure.arm import ArmDenied, ArmNotFound, ArmSession, AzureError, plain
from gate.azure.conditions import condition_allows, glob_matches
from gate.azure.ids import is_management_group, scope_covers

PULL_ACTION = "Microsoft.ContainerRegistry/registries/pull/read"
CONTENT_READ = "Microsoft.ContainerRegistry/registries/repositories/content/read"
ABAC_MODE = "AbacRepositoryPermissions"
ABAC_READER = "Container Registry Repository Reader"


@dataclass(frozen=True)
class PullRule:
    """Whether a built-in role lets a principal pull, per registry role-assignment mode."""

    name: str
    legacy: bool  # roleAssignmentMode LegacyRegistryPermissions ("RBAC Registry Permissions")
    abac: bool  # AbacRepositoryPermissions ("RBAC Registry + ABAC Repository Permissions")


# ACR's roles directory, "Azure Container Registry Entra permissions and role assignments overview"
# and "roles directory reference" (learn.microsoft.com/azure/container-registry/
# container-registry-rbac-built-in-roles-directory-reference): AcrPull, AcrPush and the
# Owner / Contributor / Reader roles pull only in "RBAC Registry Permissions" mode; in "RBAC
# Registry + ABAC Repository Permissions" mode pull comes from the Container Registry Repository
# roles (conditions optional) and from "Container Registry Data Importer and Data Reader", which the
# directory lists as able to pull in both modes (no conditions). Keyed by role definition GUID.
BUILT_IN_PULL: dict[str, PullRule] = {
    "7f951dda-4ed3-4680-a7ca-43fe172d538d": PullRule("AcrPull", True, False),
    "8311e382-0749-4cb8-b61a-304f252e45ec": PullRule("AcrPush", True, False),
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": PullRule("Owner", True, False),
    "b24988ac-6180-42a0-ab88-20f7382dd24c": PullRule("Contributor", True, False),
    "acdd72a7-3385-48ef-bd42-f606fba81ae7": PullRule("Reader", True, False),
    "b93aa761-3e63-49ed-ac28-beffa264f7ac": PullRule(
        "Container Registry Repository Reader", False, True
    ),
    "2efddaa5-3f1f-4df3-97df-af3f13818f4c": PullRule(
        "Container Registry Repository Contributor", False, True
    ),
    "577a9874-89fd-4f24-9dbd-b5034d0ad23a": PullRule(
        "Container Registry Data Importer and Data Reader", True, True
    ),
}


@dataclass(frozen=True)
class Permission:
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()
    data_actions: tuple[str, ...] = ()
    not_data_actions: tuple[str, ...] = ()

    def allows(self, action: str) -> bool:
        return any(glob_matches(p, action) for p in self.actions) and not any(
            glob_matches(p, action) for p in self.not_actions
        )

    def allows_data(self, action: str) -> bool:
        return any(glob_matches(p, action) for p in self.data_actions) and not any(
            glob_matches(p, action) for p in self.not_data_actions
        )

    def lists(self, action: str, data: bool = False) -> bool:
        """The action named literally (no wildcard), and not taken away."""
        listed, taken = (
            (self.data_actions, self.not_data_actions) if data else (self.actions, self.not_actions)
        )
        return any(p.lower() == action.lower() for p in listed) and not any(
            glob_matches(p, action) for p in taken
        )


@dataclass(frozen=True)
class Role:
    id: str
    name: str
    custom: bool
    permissions: tuple[Permission, ...]

    def grants(self, action: str) -> bool:
        return any(p.allows(action) for p in self.permissions)

    def grants_data(self, action: str) -> bool:
        return any(p.allows_data(action) for p in self.permissions)

    def wildcard_only(self, action: str, data: bool = False) -> bool:
        """A custom role that reaches `action` only through a wildcard pattern."""
        if not self.custom:
            return False
        granted = self.grants_data(action) if data else self.grants(action)
        return granted and not any(p.lists(action, data) for p in self.permissions)

    @property
    def guid(self) -> str:
        return self.id.rstrip("/").rsplit("/", 1)[-1].lower()

    def pulls(self, abac: bool) -> bool | None:
        """The roles directory's answer for a built-in role it lists; None otherwise."""
        rule = None if self.custom else BUILT_IN_PULL.get(self.guid)
        if rule is None:
            return None
        return rule.abac if abac else rule.legacy

    @property
    def label(self) -> str:
        return f"custom role {self.name}" if self.custom else self.name


@dataclass(frozen=True)
class Assignment:
    id: str
    scope: str
    role_definition_id: str
    principal_id: str
    principal_type: str = ""
    condition: str = ""


@dataclass(frozen=True)
class Grant:
    assignment: Assignment
    role: Role | None  # None: the definition could not be read

    def describe(self, registry_id: str) -> str:
        scope = self.assignment.scope
        if scope.rstrip("/").lower() == registry_id.lower():
            where = "at the registry"
        elif is_management_group(scope):
            where = f"at management group {scope.rstrip('/').rsplit('/', 1)[-1]}"
        elif "/resourcegroups/" in scope.lower():
            where = f"at resource group {scope.rstrip('/').rsplit('/', 1)[-1]} (inherited)"
        elif scope.strip("/").count("/") == 1:
            where = f"at subscription {scope.rstrip('/').rsplit('/', 1)[-1]} (inherited)"
        else:
            where = f"at {scope}"
        name = self.role.label if self.role else self.assignment.role_definition_id
        via = (
            ""
            if self.assignment.principal_type in ("", "ServicePrincipal")
            else f" via {self.assignment.principal_type.lower()} {self.assignment.principal_id}"
        )
        return f"{name} {where}{via}"


@dataclass(frozen=True)
class PullVerdict:
    can_pull: bool | None  # None: a condition could not be evaluated
    granted_by: tuple[str, ...] = ()
    held: tuple[str, ...] = ()  # every assignment that applies, described
    not_honoured: tuple[str, ...] = ()  # would grant in the other mode, or conditioned out
    unevaluated: tuple[str, ...] = ()
    # custom roles that grant pull only through a wildcard action (honoured only in tenants with
    # ARM Private Link)
    wildcard: tuple[str, ...] = ()

    def summary(self) -> str:
        if self.held:
            return "holds " + "; ".join(self.held)
        return "holds no role assignment on the registry or above it"


def _str_tuple(values: Iterable[Any] | None) -> tuple[str, ...]:
    return tuple(str(v) for v in values or () if v)


def role_from(model: Any) -> Role:
    permissions = tuple(
        Permission(
            _str_tuple(p.actions),
            _str_tuple(p.not_actions),
            _str_tuple(p.data_actions),
            _str_tuple(p.not_data_actions),
        )
        for p in model.permissions or ()
    )
    return Role(
        str(model.id or ""),
        str(model.role_name or model.name or ""),
        plain(model.role_type).lower() == "customrole",
        permissions,
    )


def assignment_from(model: Any) -> Assignment:
    return Assignment(
        str(model.id or ""),
        str(model.scope or ""),
        str(model.role_definition_id or ""),
        str(model.principal_id or ""),
        plain(model.principal_type),
        str(model.condition or ""),
    )


def applies(assignment: Assignment, registry_id: str) -> bool:
    """At the registry or a parent. ARM lists a management group's assignment for a scope only
    when the group is an ancestor of it."""
    return scope_covers(assignment.scope, registry_id) or is_management_group(assignment.scope)


def _legacy_grant(role: Role, text: str) -> tuple[str, str]:
    """(kind, text) of a grant in the default mode: granted / wildcard / not_honoured / ''."""
    listed = role.pulls(abac=False)
    if listed is not None:
        if listed:
            return "granted", text
        if role.grants_data(CONTENT_READ):
            return "not_honoured", f"{text} (repository roles need the registry in ABAC mode)"
        return "", ""
    if role.grants(PULL_ACTION):
        if role.wildcard_only(PULL_ACTION):
            return "wildcard", text
        return "granted", text
    if role.grants_data(CONTENT_READ):
        return "not_honoured", f"{text} (repository roles need the registry in ABAC mode)"
    return "", ""


def _abac_role(role: Role) -> tuple[str, bool]:
    """In ABAC mode: ("repository", conditions apply) for a role that reads repository content,
    ("registry", False) for one that pulls registry-wide, ("", False) for none."""
    listed = role.pulls(abac=True)
    if listed is not None:
        if not listed:
            return "", False
        repository = role.grants_data(CONTENT_READ)
        return ("repository", True) if repository else ("registry", False)
    if role.grants_data(CONTENT_READ):
        return "repository", True
    return "", False


def decide(grants: Sequence[Grant], registry_id: str, abac: bool, repository: str) -> PullVerdict:
    granted, not_honoured, unevaluated, wildcard = [], [], [], []
    held = tuple(g.describe(registry_id) for g in grants)
    for grant in grants:
        role = grant.role
        if role is None:
            continue
        text = grant.describe(registry_id)
        if not abac:
            kind, described = _legacy_grant(role, text)
            {"granted": granted, "wildcard": wildcard, "not_honoured": not_honoured}.get(
                kind, []
            ).append(described)
            continue
        kind, conditioned = _abac_role(role)
        if not kind:
            if role.grants(PULL_ACTION):
                not_honoured.append(f"{text} (not honoured: the registry is in ABAC mode)")
            continue
        if role.wildcard_only(CONTENT_READ, data=True):
            wildcard.append(text)
            continue
        if not conditioned or not grant.assignment.condition:
            granted.append(text)
            continue
        result = condition_allows(grant.assignment.condition, CONTENT_READ, repository)
        if result.value is True:
            granted.append(f"{text}, condition lets {repository} through")
        elif result.value is False:
            not_honoured.append(f"{text} (its condition excludes {repository})")
        else:
            unevaluated.append(f"{text}: " + "; ".join(result.unknown))
    if granted:
        return PullVerdict(True, tuple(granted), held, tuple(not_honoured))
    return PullVerdict(
        None if unevaluated or wildcard else False,
        (),
        held,
        tuple(not_honoured),
        tuple(unevaluated),
        tuple(wildcard),
    )


@dataclass
class RegistryGrants:
    """The principal's assignments that apply to one registry, with their roles."""

    registry_id: str
    grants: list[Grant] = field(default_factory=list)
    groups_included: bool = True  # False when only direct assignments could be listed


class RoleReader:
    """Reads a principal's role assignments per registry and role definitions, once each."""

    def __init__(self, session: ArmSession, subscription: str) -> None:
        self.session = session
        self.subscription = subscription
        self._roles: dict[str, Role | None] = {}
        self._lock = threading.Lock()

    def _list(self, registry_id: str, principal_id: str) -> tuple[list[Assignment], bool]:
        client = self.session.authorization(self.subscription)
        operation = "list role assignments (Microsoft.Authorization/roleAssignments/read)"

        def listed(query: str) -> list[Assignment]:
            found = self.session.call(
                operation,
                registry_id,
                lambda: list(client.role_assignments.list_for_scope(registry_id, filter=query)),
            )
            return [assignment_from(a) for a in found]

        try:
            return listed(f"assignedTo('{principal_id}')"), True
        except AzureError as exc:
            if exc.status != 400:  # a filter this cloud's API does not take
                raise
        return listed(f"principalId eq '{principal_id}'"), False

    def role(self, role_definition_id: str) -> Role | None:
        key = role_definition_id.lower()
        with self._lock:
            if key in self._roles:
                return self._roles[key]
        client = self.session.authorization(self.subscription)
        try:
            model = self.session.call(
                "read role definitions (Microsoft.Authorization/roleDefinitions/read)",
                role_definition_id,
                lambda: client.role_definitions.get_by_id(role_definition_id),
            )
            role: Role | None = role_from(model)
        except ArmNotFound:
            role = None
        with self._lock:
            self._roles[key] = role
        return role

    def grants(self, registry_id: str, principal_id: str) -> RegistryGrants:
        """Raises ArmDenied when the assignments (or a role definition) cannot be read."""
        assignments, groups = self._list(registry_id, principal_id)
        found = RegistryGrants(registry_id, groups_included=groups)
        for assignment in assignments:
            if applies(assignment, registry_id):
                found.grants.append(Grant(assignment, self.role(assignment.role_definition_id)))
        return found


__all__ = [
    "ABAC_MODE",
    "ABAC_READER",
    "ArmDenied",
    "CONTENT_READ",
    "PULL_ACTION",
    "PullVerdict",
    "RoleReader",
    "decide",
]
