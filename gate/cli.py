"""The `pullgate` command line. Exit codes: 0 pass, 1 gate failed, 2 usage or input problem."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from gate import __version__

if TYPE_CHECKING:
    from gate.config import Config

EXIT_PASS, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
DEFAULT_CONCURRENCY = 16
DEFAULT_TIMEOUT = 10.0
DEFAULT_DEADLINE = 300.0
FORMAT_NAMES = ("text", "json", "sarif", "junit", "github", "azure", "markdown")
PROGRESS_MIN_IMAGES = 8


class UsageProblem(click.ClickException):
    """An input or usage problem: one line on stderr, exit 2."""

    exit_code = EXIT_USAGE

    def show(self, file=None) -> None:  # noqa: ANN001 - click's signature
        click.echo(f"pullgate: {self.format_message()}", err=True)


class FormatTarget(click.ParamType):
    """`--format NAME` (stdout, or --output) or `--format NAME=FILE`."""

    name = "NAME[=FILE]"

    def convert(self, value, param, ctx):  # noqa: ANN001, ANN201 - click's signature
        if isinstance(value, tuple):
            return value
        name, sep, path = str(value).partition("=")
        if name not in FORMAT_NAMES:
            self.fail(f"{name!r} is not one of {', '.join(FORMAT_NAMES)}", param, ctx)
        if sep and not path:
            self.fail(f"{value!r}: name a file after '=', e.g. {name}=report.{name}", param, ctx)
        return (name, path or None)


def _report_targets(
    formats: tuple[tuple[str, str | None], ...], output: str | None
) -> list[tuple[str, str | None]]:
    """Which report goes where: at most one to stdout (or to --output), the rest to their files."""
    targets = list(formats) or [("text", None)]
    unnamed = [name for name, path in targets if path is None]
    if len(unnamed) > 1:
        others = " ".join(f"--format {name}=FILE" for name in unnamed[1:])
        raise UsageProblem(
            f"only one report can go to stdout ({', '.join(unnamed)} asked); give the others a"
            f" file: {others}"
        )
    if output:
        if not unnamed:
            raise UsageProblem(
                "--output is the file of the one --format given without =FILE, and every"
                " --format here has its own file"
            )
        targets = [(name, path or output) for name, path in targets]
    return targets


def _source_url() -> str | None:
    """On GitHub Actions, the commit's blob URL, so reports can link to the manifest lines."""
    keys = ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_SHA")
    server, repository, sha = (os.environ.get(k) for k in keys)
    return f"{server}/{repository}/blob/{sha}" if server and repository and sha else None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pullgate")
def main() -> None:
    """Prove before deploy that every container image in your manifests will pull."""


def _progress(enabled: bool) -> Callable[[int], Callable[[object], None]] | None:
    if not enabled:
        return None

    def start(total: int) -> Callable[[object], None]:
        done = [0]

        def step(_: object) -> None:
            done[0] += 1
            click.echo(f"\rresolving images {done[0]}/{total}", err=True, nl=done[0] == total)

        return step if total >= PROGRESS_MIN_IMAGES else (lambda _: None)

    return start


def registry_options(command: Callable) -> Callable:
    """The options every command that talks to registries shares (check, pin)."""
    for option in reversed(_REGISTRY_OPTIONS):
        command = option(command)
    return command


_REGISTRY_OPTIONS = (
    click.option(
        "--concurrency",
        type=click.IntRange(1, 256),
        help=f"Registry requests in flight at once [default: {DEFAULT_CONCURRENCY}].",
    ),
    click.option(
        "--timeout",
        type=click.FloatRange(min=0.1),
        help=f"Seconds per registry request [default: {DEFAULT_TIMEOUT:g}].",
    ),
    click.option(
        "--deadline",
        type=click.FloatRange(min=1),
        help=f"Seconds for the whole run [default: {DEFAULT_DEADLINE:g}].",
    ),
    click.option(
        "--insecure-registry",
        "insecure",
        multiple=True,
        metavar="HOST[:PORT]",
        help="Allow plain HTTP or unverified TLS for this registry; repeatable.",
    ),
    click.option(
        "--ca-file",
        type=click.Path(exists=True, dir_okay=False),
        help="Extra CA certificates (PEM) to trust for registries.",
    ),
    click.option(
        "--docker-config",
        type=click.Path(dir_okay=False),
        help="Docker config.json with registry credentials "
        "[default: $DOCKER_CONFIG/config.json, else ~/.docker/config.json].",
    ),
    click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False),
        help="Config file [default: ./.pullgate.yaml when present].",
    ),
)


def registry_settings(
    config: Config,
    concurrency: int | None,
    timeout: float | None,
    deadline: float | None,
    insecure: tuple[str, ...],
    ca_file: str | None,
    docker_config: str | None,
) -> dict:
    """CheckOptions fields from the registry options, flags over the config file."""
    return {
        "concurrency": concurrency or config.concurrency or DEFAULT_CONCURRENCY,
        "timeout": timeout or config.timeout or DEFAULT_TIMEOUT,
        "deadline": deadline or config.deadline or DEFAULT_DEADLINE,
        "insecure": frozenset(insecure) | frozenset(config.insecure_registries),
        "ca_file": ca_file or config.ca_file,
        "docker_config": docker_config or config.docker_config,
    }


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--platform",
    "platforms",
    multiple=True,
    metavar="OS/ARCH[/VARIANT]",
    help="Target node platform; repeatable. Images without a build for one fail.",
)
@click.option("--offline", is_flag=True, help="No network: only what the manifests alone prove.")
@click.option(
    "--format",
    "formats",
    type=FormatTarget(),
    multiple=True,
    help="Report format, repeatable: NAME writes to stdout (one at most), NAME=FILE to FILE;"
    f" one run can write several. NAME: {', '.join(FORMAT_NAMES)} [default: text].",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True),
    help="Write the report of the --format given without =FILE to this file instead of stdout.",
)
@click.option("--strict", is_flag=True, help="Fail on warnings too.")
@registry_options
@click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False),
    help="Cluster mode: read nodes, namespaces, ServiceAccounts and pull secrets from this"
    " kubeconfig's cluster, read-only (--context alone uses $KUBECONFIG, else ~/.kube/config).",
)
@click.option("--context", "kube_context", help="Cluster mode: kubeconfig context to use.")
@click.option(
    "--cluster-state",
    "cluster_state",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Cluster mode offline: a state file (pullgate snapshot, or kubectl get ... -o yaml);"
    " repeatable.",
)
@click.option(
    "--namespace",
    "-n",
    help="Namespace for objects without metadata.namespace [default: the context's, else default].",
)
@click.option(
    "--verify-credentials",
    is_flag=True,
    help="Cluster mode: try each matching pull secret against the registry.",
)
@click.option(
    "--aks",
    metavar="RG/CLUSTER",
    help="AKS cluster (RESOURCE_GROUP/CLUSTER or its resource id): the kubelet identity's ACR pull"
    " rights (RBAC and ABAC), node pools and registry posture, read from Azure with the"
    " pipeline's Azure login; ACR images are read with it too.",
)
@click.option("--subscription", help="AKS: subscription of the cluster [default: the az CLI's].")
@click.option(
    "--acr-resource-id",
    "acr_resource_ids",
    multiple=True,
    metavar="ID",
    help="AKS: a registry's resource id, instead of searching the subscription; repeatable.",
)
@click.option(
    "--kubelet-object-id",
    metavar="GUID",
    help="AKS: object id of the cluster's service principal (legacy clusters), when Microsoft"
    " Graph cannot be read.",
)
@click.option(
    "--azure-cloud",
    type=click.Choice(("AzureCloud", "AzureChinaCloud", "AzureUSGovernment")),
    default="AzureCloud",
    show_default=True,
    help="AKS: Azure cloud (azurecr.io, azurecr.cn, azurecr.us).",
)
@click.option("--color/--no-color", default=None, help="Colour (default: only on a terminal).")
def check(
    paths: tuple[str, ...],
    platforms: tuple[str, ...],
    offline: bool,
    formats: tuple[tuple[str, str | None], ...],
    output: str | None,
    strict: bool,
    concurrency: int | None,
    timeout: float | None,
    deadline: float | None,
    insecure: tuple[str, ...],
    ca_file: str | None,
    docker_config: str | None,
    config_path: str | None,
    kubeconfig: str | None,
    kube_context: str | None,
    cluster_state: tuple[str, ...],
    namespace: str | None,
    verify_credentials: bool,
    aks: str | None,
    subscription: str | None,
    acr_resource_ids: tuple[str, ...],
    kubelet_object_id: str | None,
    azure_cloud: str,
    color: bool | None,
) -> None:
    """Check every image in PATHS (files, directories, or - for stdin).

    Exit 0 when every image will pull, 1 when the gate fails, 2 on a usage or input problem.
    """
    from gate.azure.options import AksOptions
    from gate.cluster.options import ClusterError, ClusterOptions
    from gate.config import ConfigError, find_config, load_config
    from gate.manifests import InputError
    from gate.platforms import PlatformError, parse_platform
    from gate.registry.credentials import CredentialError
    from gate.reports import FORMATS, RenderOptions
    from gate.runner import CheckOptions, run_check

    reports = _report_targets(formats, output)
    try:
        config = load_config(find_config(config_path))
        targets = [parse_platform(p) for p in (platforms or config.platforms)]
        options = CheckOptions(
            paths=paths,
            platforms=targets,
            offline=offline,
            **registry_settings(
                config, concurrency, timeout, deadline, insecure, ca_file, docker_config
            ),
            policy=config.policy,
        )
        stdout_report = next((name for name, path in reports if path is None), None)
        show_progress = stdout_report in (None, "text") and sys.stderr.isatty()
        cluster = ClusterOptions(
            kubeconfig, kube_context, cluster_state, namespace, verify_credentials, options.timeout
        )
        problem = cluster.usage_problem(offline)
        if problem:
            raise UsageProblem(problem)
        aks_options = AksOptions(
            aks, subscription, acr_resource_ids, kubelet_object_id, azure_cloud, options.timeout
        )
        problem = aks_options.usage_problem(offline)
        if problem:
            raise UsageProblem(problem)
        if aks_options.enabled:
            from gate.azure.arm import AzureError
            from gate.azure.mode import run_aks_check

            try:
                progress = _progress(show_progress)
                outcome = run_aks_check(
                    options, aks_options, cluster, stdin=sys.stdin, progress=progress
                )
            except AzureError as exc:
                raise UsageProblem(str(exc)) from None
        elif cluster.enabled:
            from gate.cluster.mode import run_cluster_check

            outcome = run_cluster_check(
                options, cluster, stdin=sys.stdin, progress=_progress(show_progress)
            )
        else:
            outcome = run_check(options, stdin=sys.stdin, progress=_progress(show_progress))
    except (ConfigError, InputError, PlatformError, CredentialError, ClusterError) as exc:
        raise UsageProblem(str(exc)) from None
    if not outcome.bundle.uses and not outcome.bundle.objects:
        raise UsageProblem(f"no Kubernetes objects found in {', '.join(paths)}")

    source_url = _source_url()
    for name, path in reports:
        to_tty = path is None and sys.stdout.isatty()
        use_color = name == "text" and (to_tty if color is None else color)
        report = FORMATS[name](
            outcome, RenderOptions(color=use_color, strict=strict, source_url=source_url)
        )
        if path:
            _write_file(path, report, f"{name} report")
        else:
            click.echo(report, nl=False, color=use_color)
    sys.exit(EXIT_FAIL if outcome.failed(strict) else EXIT_PASS)


def _write_file(path: str, text: str, what: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise UsageProblem(f"{path}: cannot write {what}: {exc.strerror}") from None


@main.command("snapshot")
@click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False),
    help="Kubeconfig file [default: $KUBECONFIG, else ~/.kube/config].",
)
@click.option("--context", "kube_context", help="Kubeconfig context to use.")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True),
    help="Write the state file here [default: stdout].",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=DEFAULT_TIMEOUT,
    show_default=True,
    help="Seconds per kube API request.",
)
def snapshot_command(
    kubeconfig: str | None, kube_context: str | None, output: str | None, timeout: float
) -> None:
    """Write the cluster state `check --cluster-state` reads, without any secret values.

    Needs list on nodes, namespaces, serviceaccounts and secrets (cluster-wide).
    """
    from gate.cluster.api import LiveCluster
    from gate.cluster.snapshot import render_snapshot
    from gate.cluster.state import ClusterError

    try:
        cluster = LiveCluster(kubeconfig, kube_context, timeout=timeout)
        try:
            state = cluster.snapshot()
        finally:
            cluster.close()
    except ClusterError as exc:
        raise UsageProblem(str(exc)) from None
    text = render_snapshot(state)
    if output:
        _write_file(output, text, "snapshot")
    else:
        click.echo(text, nl=False)
    click.echo(
        f"pullgate: snapshot of {state.source}: {len(state.node_list)} nodes,"
        f" {len(state.namespaces)} namespaces, {len(state.service_accounts)} service accounts,"
        f" {len(state.secrets)} secrets (no values)" + (f" -> {output}" if output else ""),
        err=True,
    )


MAX_EXPLAIN_BYTES = 16 * 1024 * 1024


def _read_source(source: str) -> str:
    """The text of FILE, or of stdin for -, capped; never waits on a terminal."""
    if source == "-":
        if sys.stdin.isatty():
            raise UsageProblem(
                "explain reads kubectl output: pipe it in (kubectl describe pod NAME -n NS |"
                " pullgate explain -) or give a file"
            )
        data = sys.stdin.buffer.read(MAX_EXPLAIN_BYTES + 1)
    else:
        try:
            with open(source, "rb") as fh:
                data = fh.read(MAX_EXPLAIN_BYTES + 1)
        except OSError as exc:
            raise UsageProblem(f"{source}: cannot read: {exc.strerror}") from None
    if len(data) > MAX_EXPLAIN_BYTES:
        raise UsageProblem(f"{source}: more than {MAX_EXPLAIN_BYTES // (1024 * 1024)} MiB of text")
    return data.decode("utf-8", errors="replace")


@main.command("explain")
@click.argument("source", required=False, metavar="[FILE|-]")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("text", "json")),
    default="text",
    show_default=True,
    help="Output format.",
)
@click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False),
    help="Read the pods failing to pull now from this kubeconfig's cluster, read-only (--context"
    " alone uses $KUBECONFIG, else ~/.kube/config).",
)
@click.option("--context", "kube_context", help="Kubeconfig context of the cluster to read.")
@click.option(
    "--namespace",
    "-n",
    help="Namespace of the pods to read [default: the context's, else default].",
)
@click.option(
    "--all-namespaces",
    "-A",
    "all_namespaces",
    is_flag=True,
    help="Read the pods of every namespace.",
)
@registry_options
def explain_command(
    source: str | None,
    fmt: str,
    kubeconfig: str | None,
    kube_context: str | None,
    namespace: str | None,
    all_namespaces: bool,
    concurrency: int | None,
    timeout: float | None,
    deadline: float | None,
    insecure: tuple[str, ...],
    ca_file: str | None,
    docker_config: str | None,
    config_path: str | None,
) -> None:
    """Name the cause of image-pull failures: from kubectl output, or live from a cluster.

    Reads `kubectl describe pod`, `kubectl get events`, `kubectl get pods`, a Pod or Event as
    YAML/JSON, or a bare runtime message from FILE or stdin (-), and prints for each pull failure
    the cause table row, the image, the container, and the commands to confirm and to fix it.

    With --kubeconfig or --context it reads the pods failing to pull right now (and their
    events) in the namespace (-n) or all (-A), explains each, re-checks each image as that pod's
    kubelet would pull it (its pull secrets, its node's platform), and groups the pods by shared
    root cause. The registry options apply to that re-check.

    Exit 0 when no pull failure is shown, 1 when one is, 2 when the input cannot be read.
    """
    if kubeconfig or kube_context:
        if source is not None:
            raise UsageProblem("give either FILE|- or --kubeconfig/--context, not both")
        if namespace and all_namespaces:
            raise UsageProblem("give either --namespace or --all-namespaces, not both")
        settings = _explain_registry_settings(
            concurrency, timeout, deadline, insecure, ca_file, docker_config, config_path
        )
        failing = _explain_cluster(
            kubeconfig, kube_context, namespace, all_namespaces, fmt, settings
        )
        sys.exit(EXIT_FAIL if failing else EXIT_PASS)
    if namespace or all_namespaces:
        raise UsageProblem("--namespace and --all-namespaces need --kubeconfig or --context")
    from gate.explain import explain, to_json, to_text

    result = explain(_read_source(source or "-"))
    click.echo(to_json(result) if fmt == "json" else to_text(result), nl=False)
    sys.exit(EXIT_FAIL if result.failures else EXIT_PASS)


def _explain_registry_settings(
    concurrency: int | None,
    timeout: float | None,
    deadline: float | None,
    insecure: tuple[str, ...],
    ca_file: str | None,
    docker_config: str | None,
    config_path: str | None,
) -> dict:
    from gate.config import ConfigError, find_config, load_config

    try:
        config = load_config(find_config(config_path))
    except ConfigError as exc:
        raise UsageProblem(str(exc)) from None
    return registry_settings(
        config, concurrency, timeout, deadline, insecure, ca_file, docker_config
    )


def _explain_cluster(
    kubeconfig: str | None,
    kube_context: str | None,
    namespace: str | None,
    all_namespaces: bool,
    fmt: str,
    settings: dict,
) -> bool:
    """The live report; True when some pod is failing to pull."""
    from gate.cluster.api import LiveCluster
    from gate.cluster.failing import fleet_report, recheck, to_json, to_text
    from gate.cluster.state import ClusterError
    from gate.registry.credentials import CredentialError
    from gate.runner import CheckOptions

    try:
        view = LiveCluster(kubeconfig, kube_context, keep_credentials=True)
    except ClusterError as exc:
        raise UsageProblem(str(exc)) from None
    try:
        scope_ns = None if all_namespaces else (namespace or view.context_namespace or "default")
        scope = "all namespaces" if scope_ns is None else f"namespace {scope_ns}"
        pods, events = view.pods(scope_ns), view.events(scope_ns)
        report = fleet_report(pods, events, scope)
        options = CheckOptions(paths=("-",), **settings)
        report.rechecks = recheck(view, pods, report.failing, options)
    except (ClusterError, CredentialError) as exc:
        raise UsageProblem(str(exc)) from None
    finally:
        view.close()
    click.echo(to_json(report) if fmt == "json" else to_text(report), nl=False)
    return bool(report.failing)


@main.command("pin")
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--write", is_flag=True, help="Edit the files in place [default: print a unified diff]."
)
@registry_options
def pin_command(
    paths: tuple[str, ...],
    write: bool,
    insecure: tuple[str, ...],
    ca_file: str | None,
    docker_config: str | None,
    concurrency: int | None,
    timeout: float | None,
    deadline: float | None,
    config_path: str | None,
) -> None:
    """Pin the image tags in PATHS to their digests: name:tag@sha256:...

    Prints a unified diff, or edits the files with --write, keeping comments, quoting and
    formatting. Images that do not resolve are left alone and listed on stderr.

    Exit 0 when every image is pinned (now or before), 1 when some could not be, 2 on a usage or
    input problem.
    """
    from gate.config import ConfigError, find_config, load_config
    from gate.manifests import InputError
    from gate.pin import PinError, plan_pins, write_pins
    from gate.registry.credentials import CredentialError
    from gate.runner import CheckOptions

    try:
        config = load_config(find_config(config_path))
        options = CheckOptions(
            paths=paths,
            **registry_settings(
                config, concurrency, timeout, deadline, insecure, ca_file, docker_config
            ),
        )
        plan = plan_pins(paths, options)
        if not (plan.count or plan.refused or plan.pinned_already):
            raise UsageProblem(f"no container images found in {', '.join(paths)}")
        written = write_pins(plan) if write else []
    except (ConfigError, InputError, CredentialError, PinError) as exc:
        raise UsageProblem(str(exc)) from None
    if not write:
        click.echo(plan.diff(), nl=False)
    for use, why in plan.refused:
        click.echo(f"pullgate pin: {use.file}:{use.line}: {use.image}: not pinned: {why}", err=True)
    done = f"wrote {len(written)} file{'s' if len(written) != 1 else ''}" if write else "diff above"
    click.echo(
        f"pullgate pin: {plan.count} image{'s' if plan.count != 1 else ''} to pin ({done}),"
        f" {len(plan.pinned_already)} already pinned, {len(plan.refused)} not pinned",
        err=True,
    )
    sys.exit(EXIT_FAIL if plan.refused else EXIT_PASS)


if __name__ == "__main__":  # pragma: no cover
    main()
