"""The `pullgate` command line. Exit codes: 0 pass, 1 gate failed, 2 usage or input problem."""

from __future__ import annotations

import sys
from collections.abc import Callable

import click

from gate import __version__

EXIT_PASS, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
DEFAULT_CONCURRENCY = 16
DEFAULT_TIMEOUT = 10.0
DEFAULT_DEADLINE = 300.0
FORMAT_NAMES = ("text", "json")
PROGRESS_MIN_IMAGES = 8


class UsageProblem(click.ClickException):
    """An input or usage problem: one line on stderr, exit 2."""

    exit_code = EXIT_USAGE

    def show(self, file=None) -> None:  # noqa: ANN001 - click's signature
        click.echo(f"pullgate: {self.format_message()}", err=True)


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
    "fmt",
    type=click.Choice(FORMAT_NAMES),
    default="text",
    show_default=True,
    help="Report format on stdout.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True),
    help="Write the report to this file instead of stdout.",
)
@click.option("--strict", is_flag=True, help="Fail on warnings too.")
@click.option(
    "--concurrency",
    type=click.IntRange(1, 256),
    help=f"Registry requests in flight at once [default: {DEFAULT_CONCURRENCY}].",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    help=f"Seconds per registry request [default: {DEFAULT_TIMEOUT:g}].",
)
@click.option(
    "--deadline",
    type=click.FloatRange(min=1),
    help=f"Seconds for the whole run [default: {DEFAULT_DEADLINE:g}].",
)
@click.option(
    "--insecure-registry",
    "insecure",
    multiple=True,
    metavar="HOST[:PORT]",
    help="Allow plain HTTP or unverified TLS for this registry; repeatable.",
)
@click.option(
    "--ca-file",
    type=click.Path(exists=True, dir_okay=False),
    help="Extra CA certificates (PEM) to trust for registries.",
)
@click.option(
    "--docker-config",
    type=click.Path(dir_okay=False),
    help="Docker config.json with registry credentials "
    "[default: $DOCKER_CONFIG/config.json, else ~/.docker/config.json].",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="Config file [default: ./.pullgate.yaml when present].",
)
@click.option("--color/--no-color", default=None, help="Colour (default: only on a terminal).")
def check(
    paths: tuple[str, ...],
    platforms: tuple[str, ...],
    offline: bool,
    fmt: str,
    output: str | None,
    strict: bool,
    concurrency: int | None,
    timeout: float | None,
    deadline: float | None,
    insecure: tuple[str, ...],
    ca_file: str | None,
    docker_config: str | None,
    config_path: str | None,
    color: bool | None,
) -> None:
    """Check every image in PATHS (files, directories, or - for stdin).

    Exit 0 when every image will pull, 1 when the gate fails, 2 on a usage or input problem.
    """
    from gate.config import ConfigError, find_config, load_config
    from gate.manifests import InputError
    from gate.platforms import PlatformError, parse_platform
    from gate.registry.credentials import CredentialError
    from gate.reports import FORMATS, RenderOptions
    from gate.runner import CheckOptions, run_check

    try:
        config = load_config(find_config(config_path))
        targets = [parse_platform(p) for p in (platforms or config.platforms)]
        options = CheckOptions(
            paths=paths,
            platforms=targets,
            offline=offline,
            concurrency=concurrency or config.concurrency or DEFAULT_CONCURRENCY,
            timeout=timeout or config.timeout or DEFAULT_TIMEOUT,
            deadline=deadline or config.deadline or DEFAULT_DEADLINE,
            insecure=frozenset(insecure) | frozenset(config.insecure_registries),
            ca_file=ca_file or config.ca_file,
            docker_config=docker_config or config.docker_config,
        )
        show_progress = fmt == "text" and output is None and sys.stderr.isatty()
        outcome = run_check(options, stdin=sys.stdin, progress=_progress(show_progress))
    except (ConfigError, InputError, PlatformError, CredentialError) as exc:
        raise UsageProblem(str(exc)) from None
    if not outcome.bundle.uses and not outcome.bundle.objects:
        raise UsageProblem(f"no Kubernetes objects found in {', '.join(paths)}")

    to_tty = output is None and sys.stdout.isatty()
    report = FORMATS[fmt](
        outcome, RenderOptions(color=to_tty if color is None else color, strict=strict)
    )
    if output:
        try:
            with open(output, "w", encoding="utf-8") as fh:
                fh.write(report)
        except OSError as exc:
            raise UsageProblem(f"{output}: cannot write report: {exc.strerror}") from None
    else:
        click.echo(report, nl=False, color=color)
    sys.exit(EXIT_FAIL if outcome.failed(strict) else EXIT_PASS)


if __name__ == "__main__":  # pragma: no cover
    main()
