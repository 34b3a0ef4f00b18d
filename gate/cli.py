"""The `pullgate` command line. Exit codes: 0 pass, 1 gate failed, 2 usage or input problem."""

from __future__ import annotations

import errno
import math
import os
import re
import stat
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import click
from click_option_group import optgroup

from gate import __version__
from gate.limits import MAX_CONCURRENCY, MAX_SECONDS

if TYPE_CHECKING:
    from gate.config import Config
    from gate.pin import PinPlan

EXIT_PASS, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
DEFAULT_CONCURRENCY = 16
DEFAULT_TIMEOUT = 10.0
DEFAULT_DEADLINE = 300.0
MAX_CA_BYTES = 4 * 1024 * 1024
FORMAT_NAMES = ("text", "json", "sarif", "junit", "github", "azure", "markdown")
PROGRESS_MIN_IMAGES = 8
STDOUT_NAMES = ("-", "/dev/stdout")  # a report "file" that is stdout, counted as stdout


class UsageProblem(click.ClickException):
    """An input or usage problem: one line on stderr, exit 2."""

    exit_code = EXIT_USAGE

    def show(self, file=None) -> None:  # noqa: ANN001 - click's signature
        from gate.safe_text import clean  # messages quote paths and values from the input

        click.echo(f"pullgate: {clean(self.format_message())}", err=True)


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
        return (name, None if path in STDOUT_NAMES else path or None)


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
    if output in STDOUT_NAMES:
        output = None
    if output:
        if not unnamed:
            raise UsageProblem(
                "--output is the file of the one --format given without =FILE, and every"
                " --format here has its own file"
            )
        targets = [(name, path or output) for name, path in targets]
    seen: dict[str, str] = {}
    for name, path in targets:
        if path is None:
            continue
        key = os.path.realpath(path)
        if key in seen:
            raise UsageProblem(
                f"{path}: both the {seen[key]} and the {name} report would be written there;"
                " give each its own file"
            )
        seen[key] = name
    if all(path is not None for _, path in targets):
        targets.append(("text", None))  # a failed gate never leaves an empty CI log
    return targets


def _source_url() -> str | None:
    """On GitHub Actions, the commit's blob URL, so reports can link to the manifest lines."""
    keys = ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_SHA")
    server, repository, sha = (os.environ.get(k) for k in keys)
    return f"{server}/{repository}/blob/{sha}" if server and repository and sha else None


class _Pullgate(click.Group):
    """Every usage mistake on one line (`pullgate: ...`, exit 2), as input problems are."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:  # noqa: ANN401
        _quiet_libraries()
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except click.exceptions.Abort:
            click.echo("pullgate: aborted", err=True)
            sys.exit(EXIT_FAIL)
        except click.ClickException as exc:
            if isinstance(exc, UsageProblem) or type(exc).__name__ == "NoArgsIsHelpError":
                exc.show()  # ours are one line already; a bare `pullgate` gets the help
                sys.exit(exc.exit_code)
            from gate.safe_text import clean

            message = clean(" ".join(exc.format_message().split()))
            ctx = getattr(exc, "ctx", None)
            hint = f" (see {ctx.command_path} --help)" if ctx is not None else ""
            click.echo(f"pullgate: {message}{hint}", err=True)
            sys.exit(exc.exit_code)
        except BrokenPipeError:  # `pullgate check ... | head`: the reader left, nothing to say
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - so the exit flush cannot fail
            sys.exit(EXIT_FAIL)
        sys.exit(code if isinstance(code, int) else EXIT_PASS)


def _quiet_libraries() -> None:
    """The libraries' log records and warnings are not pullgate's output: the kubernetes client
    logs an exec plugin's failure with `logging.error` (which configures the root logger and
    then prints every urllib3 retry), urllib3 warns about URLs, and each problem already ends in
    pullgate's own one line. `python -W` and a configured root logger still win."""
    import logging
    import warnings

    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.NullHandler())
    if not sys.warnoptions:
        warnings.simplefilter("ignore")


@click.group(cls=_Pullgate, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pullgate")
def main() -> None:
    """Prove before deploy that every container image in your manifests will pull."""


# --- options, in help groups ------------------------------------------------------------------
# Each option is declared once as (param_decls, attrs) and attached under a help heading by
# `grouped(TITLE, OPTIONS)`; a command may take any of these tuples (or its own) in any group.
# To add an option to a command: append an `opt(...)` to the tuple of its group, or give the
# command its own `@grouped("Cluster", (KUBECONFIG, CONTEXT, opt(...)))`.

Option = tuple[tuple[str, ...], dict[str, Any]]


def opt(*decls: str, **attrs: Any) -> Option:  # noqa: ANN401
    return decls, attrs


def grouped(title: str, options: Sequence[Option]) -> Callable[[Callable], Callable]:
    """Attach `options` to a command, listed in its --help under `title`."""

    def attach(command: Callable) -> Callable:
        for decls, attrs in reversed(options):
            command = optgroup.option(*decls, **attrs)(command)
        return optgroup.group(title)(command)

    return attach


class Seconds(click.ParamType):
    """A finite number of seconds in a range: `nan`, `inf` and `1e999` are mistakes."""

    name = "SECONDS"

    def __init__(self, minimum: float) -> None:
        self.minimum = minimum

    def convert(self, value, param, ctx):  # noqa: ANN001, ANN201 - click's signature
        if isinstance(value, float):
            return value
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not math.isfinite(number) or not self.minimum <= number <= MAX_SECONDS:
            self.fail(
                f"{value!r} is not a number of seconds from {self.minimum:g} to {MAX_SECONDS:g}",
                param,
                ctx,
            )
        return number


def _named_file(ctx: click.Context, param: click.Parameter, value: Any) -> Any:  # noqa: ANN401
    """A file named by a flag must be there: a missing one is never silently skipped."""
    for path in value if isinstance(value, tuple) else (value,):
        if path is None:
            continue
        flag = param.opts[0]
        if not path.strip():
            raise UsageProblem(f"{flag} is empty: give a file or leave the flag out")
        if not os.path.exists(path):
            broken = " (broken symbolic link)" if os.path.islink(path) else ""
            raise UsageProblem(f"{flag} {path}: no such file{broken}")
        if os.path.isdir(path):
            raise UsageProblem(f"{flag} {path}: a directory, not a file")
        mode = os.stat(path).st_mode
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):  # /dev/zero would be read forever
            raise UsageProblem(f"{flag} {path}: a device, not a file")
    return value


def file_opt(*decls: str, **attrs: Any) -> Option:  # noqa: ANN401
    """An option naming a FILE that must be there (see _named_file)."""
    return opt(
        *decls, type=click.Path(dir_okay=False), callback=_named_file, metavar="FILE", **attrs
    )


def plain(option: Option) -> Callable[[Callable], Callable]:
    """Attach `option` as an ungrouped option (a command with no help headings)."""
    decls, attrs = option
    return click.option(*decls, **attrs)


def retold(option: Option, help: str) -> Option:  # noqa: A002 - click's name
    """`option` with the help text another command gives it."""
    decls, attrs = option
    return decls, {**attrs, "help": help}


def _not_empty(ctx: click.Context, param: click.Parameter, value: Any) -> Any:  # noqa: ANN401
    """An empty value (`--context "$UNSET_VARIABLE"`) is a mistake, not the flag left out: a gate
    that silently skipped its cluster or AKS checks would pass."""
    for given in value if isinstance(value, tuple) else (value,):
        if given is not None and not str(given).strip():
            raise UsageProblem(f"{param.opts[0]} is empty: give a value or leave the flag out")
    return value


def _registry_hosts(ctx: click.Context, param: click.Parameter, value: Any) -> Any:  # noqa: ANN401
    """Each value as HOST[:PORT]: an http:// or https:// prefix is dropped as dockerd does."""
    from gate.registry.hosts import normalize_insecure

    hosts = []
    for given in value:
        try:
            host = normalize_insecure(given)
        except ValueError as exc:
            raise UsageProblem(f"--insecure-registry {exc}") from None
        if not _HOST_PORT.fullmatch(host):
            raise UsageProblem(
                f"--insecure-registry {given!r}: expected HOST[:PORT] (a name, an IPv4 address"
                " or [IPv6], and an optional port)"
            )
        hosts.append(host)
    return tuple(hosts)


_HOST_PORT = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?"
)


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


REGISTRY_OPTIONS: tuple[Option, ...] = (
    opt(
        "--concurrency",
        type=click.IntRange(1, MAX_CONCURRENCY),
        help=f"Registry requests in flight at once [default: {DEFAULT_CONCURRENCY}].",
    ),
    opt(
        "--timeout",
        type=Seconds(0.1),
        help=f"Seconds per registry request [default: {DEFAULT_TIMEOUT:g}].",
    ),
    opt(
        "--deadline",
        type=Seconds(1),
        help=f"Seconds for the whole run [default: {DEFAULT_DEADLINE:g}].",
    ),
    opt(
        "--insecure-registry",
        "insecure",
        multiple=True,
        callback=_registry_hosts,
        metavar="HOST[:PORT]",
        help="Allow plain HTTP or unverified TLS for this registry; repeatable. An http:// or"
        " https:// prefix is dropped, as dockerd does.",
    ),
    file_opt(
        "--ca-file",
        help="Extra CA certificates (PEM or DER) to trust for registries.",
    ),
    file_opt(
        "--docker-config",
        help="Docker config.json with registry credentials "
        "[default: $DOCKER_CONFIG/config.json, else ~/.docker/config.json].",
    ),
)
CONFIG = file_opt(
    "--config",
    "config_path",
    help="Config file [default: ./.pullgate.yaml when present].",
)
KUBECONFIG = file_opt(
    "--kubeconfig",
    help="Cluster mode: read nodes, namespaces, ServiceAccounts and pull secrets from this"
    " kubeconfig's cluster, read-only (--context alone uses $KUBECONFIG, else ~/.kube/config).",
)
CONTEXT = opt(
    "--context",
    "kube_context",
    callback=_not_empty,
    help="Cluster mode: kubeconfig context to use.",
)
CLUSTER_OPTIONS: tuple[Option, ...] = (
    KUBECONFIG,
    CONTEXT,
    file_opt(
        "--cluster-state",
        "cluster_state",
        multiple=True,
        help="Cluster mode offline: a state file (pullgate snapshot, or kubectl get ... -o yaml);"
        " repeatable.",
    ),
    opt(
        "--namespace",
        "-n",
        callback=_not_empty,
        help="Namespace for objects without metadata.namespace"
        " [default: the context's, else default].",
    ),
    opt(
        "--verify-credentials",
        is_flag=True,
        help="Cluster mode: try each matching pull secret against the registry.",
    ),
)
AKS_OPTIONS: tuple[Option, ...] = (
    opt(
        "--aks",
        metavar="RG/CLUSTER",
        callback=_not_empty,
        help="AKS cluster (RESOURCE_GROUP/CLUSTER or its resource id): the kubelet identity's ACR"
        " pull rights (RBAC and ABAC), node pools and registry posture, read from Azure with the"
        " pipeline's Azure login; ACR images are read with it too.",
    ),
    opt(
        "--subscription",
        callback=_not_empty,
        help="Subscription of the cluster [default: the az CLI's].",
    ),
    opt(
        "--acr-resource-id",
        "acr_resource_ids",
        multiple=True,
        metavar="ID",
        callback=_not_empty,
        help="A registry's resource id, instead of searching the subscription; repeatable.",
    ),
    opt(
        "--kubelet-object-id",
        metavar="GUID",
        callback=_not_empty,
        help="Object id of the cluster's service principal (legacy clusters), when Microsoft"
        " Graph cannot be read.",
    ),
    opt(
        "--azure-cloud",
        type=click.Choice(("AzureCloud", "AzureChinaCloud", "AzureUSGovernment")),
        default="AzureCloud",
        show_default=True,
        help="Azure cloud (azurecr.io, azurecr.cn, azurecr.us).",
    ),
)
POLICY_OPTIONS: tuple[Option, ...] = (
    opt(
        "--platform",
        "platforms",
        multiple=True,
        metavar="OS/ARCH[/VARIANT]",
        help="Target node platform; repeatable. Images without a build for one fail.",
    ),
    opt("--offline", is_flag=True, help="No network: only what the manifests alone prove."),
    opt("--strict", is_flag=True, help="Fail on warnings too."),
    CONFIG,
)
OUTPUT_OPTIONS: tuple[Option, ...] = (
    opt(
        "--format",
        "formats",
        type=FormatTarget(),
        multiple=True,
        help="Report format, repeatable: NAME writes to stdout (one at most), NAME=FILE to FILE;"
        f" one run can write several. NAME: {', '.join(FORMAT_NAMES)} [default: text].",
    ),
    opt(
        "--output",
        "-o",
        type=click.Path(dir_okay=False),
        callback=_not_empty,
        help="Write the report of the --format given without =FILE to this file.",
    ),
    opt("--verbose", "-v", is_flag=True, help="Text report: list the images that passed too."),
    opt(
        "--color/--no-color",
        default=None,
        help="Colour [default: on a terminal, unless NO_COLOR is set].",
    ),
)


def _ca_bundle(path: str | None) -> str | None:
    """`--ca-file` as a PEM file the TLS stack loads: PEM as given, a DER certificate (.cer)
    converted into a private temporary PEM file for the run; anything else refused."""
    if path is None:
        return None
    import ssl
    import tempfile

    from gate.manifests import InputError, read_capped

    try:
        data = read_capped(path, MAX_CA_BYTES)
    except InputError as exc:
        raise UsageProblem(f"--ca-file {exc}") from None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    pem = b"-----BEGIN CERTIFICATE-----" in data
    try:
        context.load_verify_locations(cadata=data.decode("ascii") if pem else data)
    except (ssl.SSLError, ValueError, UnicodeDecodeError):
        kind = "PEM file holds no readable certificate" if pem else "not a PEM or DER certificate"
        raise UsageProblem(f"--ca-file {path}: {kind}") from None
    if pem:
        return path
    converted = tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives until the process ends
        "w", prefix="pullgate-ca-", suffix=".pem", delete=False
    )
    with converted:
        converted.write(ssl.DER_cert_to_PEM_cert(data))
    _remove_at_exit(converted.name)
    return converted.name


def _remove_at_exit(path: str) -> None:
    import atexit

    atexit.register(lambda: os.path.exists(path) and os.unlink(path))


def _refuse_terminal(paths: Sequence[str], command: str) -> None:
    if "-" in paths and sys.stdin.isatty():
        raise UsageProblem(
            f"{command} - reads manifests from stdin: pipe them in (helm template ./chart |"
            f" pullgate {command} -) or give files"
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
        "ca_file": _ca_bundle(ca_file),
        "docker_config": docker_config,
    }


@main.command(short_help="Check every image in manifests before deploy.")
@click.argument("paths", nargs=-1, required=True)
@grouped("Output", OUTPUT_OPTIONS)
@grouped("Policy", POLICY_OPTIONS)
@grouped("Registry", REGISTRY_OPTIONS)
@grouped("Cluster (predict the kubelet's view)", CLUSTER_OPTIONS)
@grouped("AKS (ACR pull rights from Azure)", AKS_OPTIONS)
def check(
    paths: tuple[str, ...],
    formats: tuple[tuple[str, str | None], ...],
    output: str | None,
    verbose: bool,
    color: bool | None,
    platforms: tuple[str, ...],
    offline: bool,
    strict: bool,
    config_path: str | None,
    concurrency: int | None,
    timeout: float | None,
    deadline: float | None,
    insecure: tuple[str, ...],
    ca_file: str | None,
    docker_config: str | None,
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
    _refuse_terminal(paths, "check")
    try:
        config = load_config(find_config(config_path))
        options = CheckOptions(
            paths=paths,
            platforms=[parse_platform(p) for p in platforms],
            config_platforms=[parse_platform(p) for p in config.platforms],
            config_file=config.source,
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
        progress = _progress(show_progress)
        if aks_options.enabled:
            from gate.azure.arm import ArmNotFound, AzureError
            from gate.azure.mode import run_aks_check

            try:
                outcome = run_aks_check(
                    options, aks_options, cluster, stdin=sys.stdin, progress=progress
                )
            except AzureError as exc:
                raise UsageProblem(str(exc)) from None
            except ArmNotFound as exc:  # a scope gone between two reads: one line, not a trace
                raise UsageProblem(f"Azure Resource Manager answered 404: {exc}") from None
        elif cluster.enabled:
            from gate.cluster.mode import run_cluster_check

            outcome = run_cluster_check(options, cluster, stdin=sys.stdin, progress=progress)
        else:
            outcome = run_check(options, stdin=sys.stdin, progress=progress)
    except (ConfigError, InputError, PlatformError, CredentialError, ClusterError) as exc:
        raise UsageProblem(str(exc)) from None
    if not outcome.bundle.uses and not outcome.bundle.objects:
        raise UsageProblem(f"no Kubernetes objects found in {_named_inputs(paths)}")

    source_url = _source_url()
    for name, path in reports:
        to_tty = path is None and sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        use_color = name == "text" and (to_tty if color is None else color)
        render = RenderOptions(
            color=use_color, strict=strict, source_url=source_url, verbose=verbose
        )
        report = FORMATS[name](outcome, render)
        if path:
            _write_file(path, report, f"{name} report")
        else:
            click.echo(report, nl=False, color=use_color)
    sys.exit(EXIT_FAIL if outcome.failed(strict) else EXIT_PASS)


def _named_inputs(paths: Sequence[str]) -> str:
    from gate.manifests import input_name

    return ", ".join(input_name(path) for path in paths)


_SYSTEM_DIRS = ("/dev", "/proc", "/sys")


def _is_stream(path: str, what: str) -> bool:
    """Whether `path` is a stream to write into where it is (a named pipe, a character device
    such as /dev/null or a terminal, /dev/stdout, anything under /dev or /proc) rather than a
    file to replace: replacing /dev/null or /dev/stdout with a regular file breaks the whole
    machine. A block device or socket is refused, and so is a link to a device other than
    /dev/null (a committed link to /dev/mem is not written)."""
    parent = os.path.realpath(os.path.dirname(os.path.abspath(path)))
    system = any(parent == d or parent.startswith(d + "/") for d in _SYSTEM_DIRS)
    try:
        st = os.lstat(path)
    except OSError:
        return system
    if stat.S_ISLNK(st.st_mode):
        target = os.path.join(os.path.dirname(path), os.readlink(path))
        if system or target.startswith("/proc/"):
            return True  # /dev/stdout, /dev/fd/1: this process's own stream
        try:
            st = os.stat(path)
        except OSError:
            return False  # a dangling link is replaced
        if stat.S_ISCHR(st.st_mode) and st.st_rdev != os.stat(os.devnull).st_rdev:
            raise UsageProblem(f"{path}: cannot write {what}: a link to a device")
    if stat.S_ISBLK(st.st_mode) or stat.S_ISSOCK(st.st_mode):
        raise UsageProblem(f"{path}: cannot write {what}: not a file")
    return system or stat.S_ISFIFO(st.st_mode) or stat.S_ISCHR(st.st_mode)


def _is_own_stdout(path: str) -> bool:
    try:
        return os.path.samestat(os.stat(path), os.fstat(sys.stdout.fileno()))
    except (OSError, ValueError, AttributeError):  # io.UnsupportedOperation is an OSError
        return False


def _write_stream(path: str, text: str, what: str) -> None:
    """Append to a stream; a named pipe nobody reads is an error, not a wait for ever."""
    import fcntl

    if _is_own_stdout(path):  # one file position for everything printed there
        click.echo(text, nl=False)
        return
    sys.stdout.flush()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK)
    except OSError as exc:
        reason = "no reader" if exc.errno == errno.ENXIO else exc.strerror
        raise UsageProblem(f"{path}: cannot write {what}: {reason}") from None
    st = os.fstat(fd)
    harmless = os.isatty(fd) or st.st_rdev == os.stat(os.devnull).st_rdev
    if stat.S_ISBLK(st.st_mode) or (stat.S_ISCHR(st.st_mode) and not harmless):  # /dev/mem
        os.close(fd)
        raise UsageProblem(f"{path}: cannot write {what}: a device, not a file")
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise UsageProblem(f"{path}: cannot write {what}: {exc.strerror}") from None


def _write_file(path: str, text: str, what: str) -> None:
    """Write a report or snapshot beside `path` and rename it into place: a symbolic link at
    `path` (a committed `pullgate.sarif` pointing elsewhere) is replaced, never written through.
    A stream (/dev/null, /dev/stdout, a named pipe) is written into, never replaced."""
    if os.path.isdir(path) and not os.path.islink(path):
        raise UsageProblem(f"{path}: cannot write {what}: a directory")
    if _is_stream(path, what):
        _write_stream(path, text, what)
        return
    import tempfile

    directory = os.path.dirname(path) or "."
    try:
        fd, tmp = tempfile.mkstemp(prefix=".pullgate-", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            mask = os.umask(0)
            os.umask(mask)
            os.chmod(tmp, 0o666 & ~mask)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    except OSError as exc:
        raise UsageProblem(f"{path}: cannot write {what}: {exc.strerror}") from None


@main.command("snapshot", short_help="Save the cluster state check --cluster-state reads.")
@plain(retold(KUBECONFIG, "Kubeconfig file [default: $KUBECONFIG, else ~/.kube/config]."))
@plain(retold(CONTEXT, "Kubeconfig context to use."))
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False),
    callback=_not_empty,
    help="Write the state file here [default: stdout].",
)
@click.option(
    "--timeout",
    type=Seconds(0.1),
    default=DEFAULT_TIMEOUT,
    show_default=True,
    help="Seconds per kube API request.",
)
@click.option(
    "--deadline",
    type=Seconds(1),
    default=DEFAULT_DEADLINE,
    show_default=True,
    help="Seconds for the whole snapshot.",
)
def snapshot_command(
    kubeconfig: str | None,
    kube_context: str | None,
    output: str | None,
    timeout: float,
    deadline: float,
) -> None:
    """Write the cluster state `check --cluster-state` reads, without any secret values.

    Needs list on nodes, namespaces, serviceaccounts and secrets (cluster-wide).
    """
    from gate.cluster.api import LiveCluster
    from gate.cluster.snapshot import render_snapshot
    from gate.cluster.state import ClusterError

    try:
        ends_at = time.monotonic() + deadline
        cluster = LiveCluster(kubeconfig, kube_context, timeout=timeout, ends_at=ends_at)
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
    """The text of FILE, or of stdin for -, capped; never waits on a terminal or reads a
    device."""
    if source == "-":
        if sys.stdin.isatty():
            raise UsageProblem(
                "explain reads kubectl output: pipe it in (kubectl describe pod NAME -n NS |"
                " pullgate explain -) or give a file"
            )
        data = sys.stdin.buffer.read(MAX_EXPLAIN_BYTES + 1)
    else:
        from gate.manifests import InputError, read_capped

        try:
            data = read_capped(source, MAX_EXPLAIN_BYTES)
        except InputError as exc:
            raise UsageProblem(f"{source}: cannot read: {exc.message}") from None
    name = "stdin" if source == "-" else source  # gate.manifests.input_name, not imported here
    if len(data) > MAX_EXPLAIN_BYTES:
        raise UsageProblem(f"{name}: more than {MAX_EXPLAIN_BYTES // (1024 * 1024)} MiB of text")
    if not data.strip():  # `kubectl describe pod typo | pullgate explain -`: not a clean bill
        hint = " (did the command piped in fail?)" if source == "-" else ""
        raise UsageProblem(f"{name}: empty: nothing to explain{hint}")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # PowerShell 5's `kubectl ... > out.txt`
        return data.decode("utf-16", errors="replace")
    if b"\x00" in data:
        raise UsageProblem(f"{name}: binary data (NUL byte): not kubectl output or a log")
    return data.decode("utf-8-sig", errors="replace")


@main.command("explain", short_help="Name the cause of pull failures: kubectl output or live.")
@click.argument("source", required=False, metavar="[FILE|-]")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("text", "json")),
    default="text",
    show_default=True,
    help="Output format.",
)
@grouped(
    "Cluster (live)",
    (
        retold(
            KUBECONFIG,
            "Read the pods failing to pull now from this kubeconfig's cluster, read-only"
            " (--context alone uses $KUBECONFIG, else ~/.kube/config).",
        ),
        retold(CONTEXT, "Kubeconfig context of the cluster to read."),
        opt(
            "--namespace",
            "-n",
            callback=_not_empty,
            help="Namespace of the pods to read [default: the context's, else default].",
        ),
        opt(
            "--all-namespaces",
            "-A",
            "all_namespaces",
            is_flag=True,
            help="Read the pods of every namespace.",
        ),
    ),
)
@grouped("Registry (for the live re-check)", (*REGISTRY_OPTIONS, CONFIG))
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
        settings = _configured_registry_settings(
            concurrency, timeout, deadline, insecure, ca_file, docker_config, config_path
        )
        failing = _explain_cluster(
            kubeconfig, kube_context, namespace, all_namespaces, fmt, settings
        )
        sys.exit(EXIT_FAIL if failing else EXIT_PASS)
    if namespace or all_namespaces:
        raise UsageProblem("--namespace and --all-namespaces need --kubeconfig or --context")
    registry_flags = {
        "--concurrency": concurrency,
        "--timeout": timeout,
        "--deadline": deadline,
        "--insecure-registry": insecure,
        "--ca-file": ca_file,
        "--docker-config": docker_config,
        "--config": config_path,
    }
    given = [flag for flag, value in registry_flags.items() if value]
    if given:  # they shape the live re-check only: silently unused, they would mislead
        verb = "applies" if len(given) == 1 else "apply"
        raise UsageProblem(
            f"{', '.join(given)} {verb} to the live re-check only: add --kubeconfig or --context"
        )
    from gate.explain import explain, to_json, to_text

    result = explain(_read_source(source or "-"))
    click.echo(to_json(result) if fmt == "json" else to_text(result), nl=False)
    sys.exit(EXIT_FAIL if result.failures else EXIT_PASS)


def _configured_registry_settings(
    concurrency: int | None,
    timeout: float | None,
    deadline: float | None,
    insecure: tuple[str, ...],
    ca_file: str | None,
    docker_config: str | None,
    config_path: str | None,
) -> dict:
    """The registry settings of the flags over the config file's (pin; explain's re-check)."""
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
        view = LiveCluster(
            kubeconfig,
            kube_context,
            timeout=settings["timeout"],
            keep_credentials=True,
            ends_at=time.monotonic() + settings["deadline"],
        )
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


@main.command("pin", short_help="Pin image tags to their digests (diff, or --write).")
@click.argument("paths", nargs=-1, required=True)
@grouped(
    "Output",
    (
        opt(
            "--write",
            is_flag=True,
            help="Edit the files in place [default: print a unified diff; for -, the pinned text].",
        ),
    ),
)
@grouped("Registry", (*REGISTRY_OPTIONS, CONFIG))
def pin_command(
    paths: tuple[str, ...],
    write: bool,
    concurrency: int | None,
    timeout: float | None,
    deadline: float | None,
    insecure: tuple[str, ...],
    ca_file: str | None,
    docker_config: str | None,
    config_path: str | None,
) -> None:
    """Pin the image tags in PATHS to their digests: name:tag@sha256:...

    Prints a unified diff, or edits the files with --write, keeping comments, quoting and
    formatting. Images that do not resolve are left alone and listed on stderr.

    Exit 0 when every image is pinned (now or before), 1 when some could not be, 2 on a usage or
    input problem.
    """
    from gate.manifests import InputError
    from gate.pin import PinError, plan_pins, write_pins
    from gate.registry.credentials import CredentialError
    from gate.reports.parts import place
    from gate.runner import CheckOptions
    from gate.safe_text import clean

    _refuse_terminal(paths, "pin")
    if write and "-" in paths:
        raise UsageProblem("pin - prints the pinned text to stdout: --write needs files")
    try:
        settings = _configured_registry_settings(
            concurrency, timeout, deadline, insecure, ca_file, docker_config, config_path
        )
        options = CheckOptions(paths=paths, **settings)
        plan = plan_pins(paths, options, stdin=sys.stdin)
        if not (plan.count or plan.refused or plan.pinned_already):
            raise UsageProblem(f"no container images found in {_named_inputs(paths)}")
        written = write_pins(plan) if write else []
    except (InputError, CredentialError, PinError) as exc:
        raise UsageProblem(str(exc)) from None
    if "-" in paths:
        click.echo(plan.new_text("-"), nl=False)
    elif not write:
        click.echo(plan.diff(), nl=False)
    for use, why in plan.refused:
        where = place(use.file, use.line)
        click.echo(clean(f"pullgate pin: {where}: {use.image}: not pinned: {why}"), err=True)
    click.echo(f"pullgate pin: {_pin_summary(plan, paths, write, written)}", err=True)
    sys.exit(EXIT_FAIL if plan.refused else EXIT_PASS)


def _pin_summary(plan: PinPlan, paths: Sequence[str], write: bool, written: list[str]) -> str:
    from gate.reports.parts import _plural

    already = f"{len(plan.pinned_already)} already pinned"
    refused = f", {len(plan.refused)} not pinned" if plan.refused else ""
    if not plan.count:
        return f"nothing to pin: {already}{refused}"
    images = _plural(plan.count, "image")
    if "-" in paths:
        done = f"pinned {images} in the text on stdout"
    elif write:
        done = f"pinned {images} in {_plural(len(written), 'file')}"
    else:
        done = f"{images} to pin (diff above)"
    return f"{done}, {already}{refused}"


if __name__ == "__main__":  # pragma: no cover
    main()
