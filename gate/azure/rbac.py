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


def decide(grants: Sequence[Grant], registry_id: str, abac: bool, repository: str) -> PullVerdict:
    granted, not_honoured, unevaluated = [], [], []
    held = tuple(g.describe(registry_id) for g in grants)
    for grant in grants:
        role = grant.role
        if role is None:
            continue
        text = grant.describe(registry_id)
        if not abac:
            if role.grants(PULL_ACTION):
                granted.append(text)
            elif role.grants_data(CONTENT_READ):
                not_honoured.append(f"{text} (repository roles need the registry in ABAC mode)")
            continue
        if not role.grants_data(CONTENT_READ):
            if role.grants(PULL_ACTION):
                not_honoured.append(f"{text} (not honoured: the registry is in ABAC mode)")
            continue
        if not grant.assignment.condition:
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
        None if unevaluated else False, (), held, tuple(not_honoured), tuple(unevaluated)
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
