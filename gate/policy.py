"""Repository policy from `.pullgate.yaml`: allowed registries, required digests, ignore rules,
severity overrides. Documented by gate/schemas/pullgate-config.schema.json.

Parsing walks the YAML node tree so that every error names the file and line of the bad value.
The policy adds two checks (`registry-not-allowed`, `digest-required`, rows in the cause catalog)
and one step after the checks: ignore rules move matching findings aside with their reason (an
expired rule stops applying and leaves a note saying so), and severity overrides re-grade the rest.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import yaml

from gate.causes import CATALOG, Severity

if TYPE_CHECKING:
    from gate.checks import Check, UseContext
    from gate.findings import Finding
    from gate.reference import ImageRef

POLICY_KEYS = frozenset({"registries", "require-digest", "ignore", "severity"})
IGNORE_MATCHERS = ("cause", "image", "namespace", "name", "kind", "container")
IGNORE_KEYS = frozenset({*IGNORE_MATCHERS, "reason", "expires"})


class PolicyError(Exception):
    """A policy value that is not what the schema says, with file and line."""


@dataclass(frozen=True)
class Pattern:
    glob: str
    line: int

    def matches(self, ref: ImageRef) -> bool:
        """A pattern with a `/` matches the repository name (domain/path), else the registry."""
        subject = ref.name if "/" in self.glob else ref.domain
        return fnmatch.fnmatchcase(subject.lower(), self.glob.lower())


@dataclass(frozen=True)
class IgnoreRule:
    reason: str
    line: int
    causes: tuple[str, ...] = ()
    image: str | None = None
    namespace: str | None = None
    name: str | None = None
    kind: str | None = None
    container: str | None = None
    expires: dt.date | None = None

    def expired(self, today: dt.date) -> bool:
        return self.expires is not None and today > self.expires

    def matches(self, finding: Finding) -> bool:
        use = finding.use
        if self.causes and finding.cause not in self.causes:
            return False
        if self.image is not None:
            names = {use.image, finding.resolved or ""}
            if finding.resolved:
                names.add(finding.resolved.split("@")[0].rsplit(":", 1)[0])
            if not any(fnmatch.fnmatchcase(n, self.image) for n in names if n):
                return False
        checks = (
            (self.namespace, use.namespace or "default"),
            (self.name, use.name or ""),
            (self.container, use.container or ""),
        )
        if any(glob is not None and not fnmatch.fnmatchcase(value, glob) for glob, value in checks):
            return False
        return self.kind is None or (use.kind or "").lower() == self.kind.lower()

    def describe(self) -> str:
        parts = [f"cause={','.join(self.causes)}"] if self.causes else []
        parts += [
            f"{k}={getattr(self, k)}" for k in IGNORE_MATCHERS[1:] if getattr(self, k) is not None
        ]
        return " ".join(parts)


@dataclass(frozen=True)
class Policy:
    source: str | None = None  # the config file
    allow: tuple[Pattern, ...] = ()
    deny: tuple[Pattern, ...] = ()
    require_digest: bool | tuple[Pattern, ...] = False
    ignores: tuple[IgnoreRule, ...] = ()
    severity: dict[str, Severity] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.allow or self.deny or self.require_digest or self.ignores or self.severity)


@dataclass(frozen=True)
class Note:
    """Something about the run itself worth saying in every report, e.g. an expired ignore."""

    message: str
    file: str | None = None
    line: int | None = None


@dataclass(frozen=True)
class Suppressed:
    """A finding an ignore rule moved aside, with the rule's reason."""

    finding: Finding
    reason: str
    file: str | None
    line: int
    expires: dt.date | None = None


@dataclass
class PolicyResult:
    findings: list[Finding]
    suppressed: list[Suppressed]
    notes: list[Note]


# ---- reading ---------------------------------------------------------------------------------

_constructor = yaml.SafeLoader("")


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _fail(path: str, node: yaml.Node, message: str) -> PolicyError:
    return PolicyError(f"{path}:{_line(node)}: {message}")


def _mapping(node: yaml.Node, path: str, where: str) -> list[tuple[str, yaml.Node, yaml.Node]]:
    if not isinstance(node, yaml.MappingNode):
        raise _fail(path, node, f"{where} must be a mapping")
    items = []
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            raise _fail(path, key_node, f"{where}: keys must be strings")
        items.append((str(key_node.value), key_node, value_node))
    return items


def _value(node: yaml.Node) -> object:
    return _constructor.construct_object(node, deep=True)


def _string(node: yaml.Node, path: str, where: str) -> str:
    value = _value(node) if isinstance(node, yaml.ScalarNode) else None
    if not isinstance(value, str) or not value.strip():
        raise _fail(path, node, f"{where} must be a non-empty string")
    return value


def _patterns(node: yaml.Node, path: str, where: str) -> tuple[Pattern, ...]:
    if not isinstance(node, yaml.SequenceNode):
        raise _fail(path, node, f"{where} must be a list of registry globs")
    return tuple(Pattern(_string(item, path, where), _line(item)) for item in node.value)


def _cause_ids(node: yaml.Node, path: str, where: str) -> tuple[str, ...]:
    items = node.value if isinstance(node, yaml.SequenceNode) else [node]
    ids = []
    for item in items:
        cause_id = _string(item, path, where)
        if cause_id not in CATALOG:
            known = ", ".join(sorted(CATALOG))
            raise _fail(path, item, f"{where}: unknown cause {cause_id!r} (known: {known})")
        ids.append(cause_id)
    return tuple(ids)


def _date(node: yaml.Node, path: str, where: str) -> dt.date:
    value = _value(node) if isinstance(node, yaml.ScalarNode) else None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise _fail(path, node, f"{where} must be a date (YYYY-MM-DD)")


def _ignore_rule(node: yaml.Node, path: str, index: int) -> IgnoreRule:
    where = f"ignore[{index}]"
    fields: dict[str, object] = {}
    for key, key_node, value_node in _mapping(node, path, where):
        if key not in IGNORE_KEYS:
            known = ", ".join(sorted(IGNORE_KEYS))
            raise _fail(path, key_node, f"unknown key {key!r} in {where} (known: {known})")
        if key == "cause":
            fields["causes"] = _cause_ids(value_node, path, f"{where}.cause")
        elif key == "expires":
            fields["expires"] = _date(value_node, path, f"{where}.expires")
        else:
            fields[key] = _string(value_node, path, f"{where}.{key}")
    if "reason" not in fields:
        raise _fail(path, node, f"{where} needs a reason (why this finding is acceptable)")
    if not any(k in fields for k in ("causes", *IGNORE_MATCHERS[1:])):
        raise _fail(path, node, f"{where} needs at least one of: {', '.join(IGNORE_MATCHERS)}")
    return IgnoreRule(line=_line(node), **fields)  # type: ignore[arg-type]


def parse_policy_entry(policy: Policy, key: str, node: yaml.Node, path: str) -> Policy:
    """Fold one top-level config key into the policy; PolicyError (with the line) when bad."""
    policy = replace(policy, source=path)
    if key == "registries":
        allow, deny = policy.allow, policy.deny
        for sub, sub_key, value in _mapping(node, path, "registries"):
            if sub == "allow":
                allow = _patterns(value, path, "registries.allow")
            elif sub == "deny":
                deny = _patterns(value, path, "registries.deny")
            else:
                raise _fail(
                    path, sub_key, f"unknown key {sub!r} in registries (known: allow, deny)"
                )
        return replace(policy, allow=allow, deny=deny)
    if key == "require-digest":
        if isinstance(node, yaml.SequenceNode):
            return replace(policy, require_digest=_patterns(node, path, "require-digest"))
        value = _value(node) if isinstance(node, yaml.ScalarNode) else None
        if not isinstance(value, bool):
            raise _fail(
                path, node, "require-digest must be true, false or a list of registry globs"
            )
        return replace(policy, require_digest=value)
    if key == "ignore":
        if not isinstance(node, yaml.SequenceNode):
            raise _fail(path, node, "ignore must be a list of rules")
        rules = tuple(_ignore_rule(item, path, i) for i, item in enumerate(node.value))
        return replace(policy, ignores=rules)
    if key == "severity":
        levels: dict[str, Severity] = {}
        for cause_id, key_node, value_node in _mapping(node, path, "severity"):
            if cause_id not in CATALOG:
                known = ", ".join(sorted(CATALOG))
                raise _fail(
                    path, key_node, f"severity: unknown cause {cause_id!r} (known: {known})"
                )
            level = _value(value_node) if isinstance(value_node, yaml.ScalarNode) else None
            if level not in ("error", "warning"):
                raise _fail(path, value_node, f"severity.{cause_id} must be error or warning")
            levels[cause_id] = Severity(level)
        return replace(policy, severity=levels)
    raise _fail(path, node, f"unknown policy key {key!r}")


# ---- checking --------------------------------------------------------------------------------


def _policy_finding(cause_id: str, ctx: UseContext, policy: Policy, **more: object) -> Finding:
    from gate.checks import finding_for

    return finding_for(cause_id, ctx, policy=policy.source or ".pullgate.yaml", **more)


def _where(policy: Policy, pattern: Pattern) -> str:
    return f"{policy.source or '.pullgate.yaml'}:{pattern.line}"


def policy_checks(policy: Policy) -> tuple[Check, ...]:
    """The checks the policy adds to a run."""

    def registry_allowed(ctx: UseContext) -> Iterable[Finding]:
        ref = ctx.ref
        if ref is None or not (policy.allow or policy.deny):
            return
        denied = next((p for p in policy.deny if p.matches(ref)), None)
        if denied is not None:
            rule = f"which registries.deny lists ({denied.glob!r} at {_where(policy, denied)})"
            yield _policy_finding("registry-not-allowed", ctx, policy, rule=rule)
        elif policy.allow and not any(p.matches(ref) for p in policy.allow):
            allowed = ", ".join(p.glob for p in policy.allow)
            rule = f"which is not in registries.allow ({allowed})"
            yield _policy_finding("registry-not-allowed", ctx, policy, rule=rule)

    def digest_required(ctx: UseContext) -> Iterable[Finding]:
        ref = ctx.ref
        if ref is None or ref.digest or not policy.require_digest:
            return
        scoped = policy.require_digest
        if isinstance(scoped, tuple) and not any(p.matches(ref) for p in scoped):
            return
        digest = (ctx.resolution.digest if ctx.resolution else None) or "sha256:<digest>"
        pinned = f"{ref.name}:{ref.tag or 'latest'}@{digest}"
        yield _policy_finding("digest-required", ctx, policy, pinned=pinned)

    return (registry_allowed, digest_required)


def apply_policy(
    policy: Policy | None, findings: Sequence[Finding], today: dt.date | None = None
) -> PolicyResult:
    """Ignore rules first (with their reasons kept), then severity overrides."""
    if policy is None or policy.empty:
        return PolicyResult(list(findings), [], [])
    today = today or dt.date.today()
    live = [r for r in policy.ignores if not r.expired(today)]
    notes: list[Note] = []
    kept: list[Finding] = []
    suppressed: list[Suppressed] = []
    for finding in findings:
        rule = next((r for r in live if r.matches(finding)), None)
        if rule is not None:
            suppressed.append(
                Suppressed(finding, rule.reason, policy.source, rule.line, rule.expires)
            )
            continue
        level = policy.severity.get(finding.cause)
        kept.append(replace(finding, severity=level) if level else finding)
    for rule in policy.ignores:
        if rule.expired(today):
            hits = sum(1 for f in findings if rule.matches(f))
            again = ""
            if hits:
                verb = "are" if hits != 1 else "is"
                again = (
                    f"; {hits} finding{'s' if hits != 1 else ''} it matched {verb} reported again"
                )
            notes.append(
                Note(
                    f"ignore rule ({rule.describe()}) expired on {rule.expires.isoformat()}"
                    f" and no longer applies{again}. Reason given: {rule.reason}",
                    policy.source,
                    rule.line,
                )
            )
    return PolicyResult(kept, suppressed, notes)
