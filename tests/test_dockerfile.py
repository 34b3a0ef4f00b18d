"""The Dockerfile: pinned base, non-root, `pullgate` as the entrypoint, hadolint clean, extras
optional, and the wheel it installs really works (built from this checkout, its `pullgate` run from
a virtual environment as the image's entrypoint would).

The image itself is built and run by `scripts/test-image` (buildah), a CI step of its own: it
needs root and takes minutes.
"""

import re
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest
from conftest import require_binary

ROOT = Path(__file__).parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def instructions(name):
    return [
        line.split(None, 1)[1] for line in DOCKERFILE.splitlines() if line.startswith(name + " ")
    ]


def test_every_stage_starts_from_a_base_pinned_by_digest():
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", DOCKERFILE, re.M)[1]
    assert re.fullmatch(r"python:3\.12-slim@sha256:[0-9a-f]{64}", base)
    assert all(line.split()[0] == "${PYTHON_IMAGE}" for line in instructions("FROM"))


def test_the_image_runs_as_a_non_root_user():
    [user] = instructions("USER")
    assert not user.startswith(("0", "root"))


def test_the_entrypoint_is_pullgate():
    assert instructions("ENTRYPOINT") == ['["pullgate"]']


def test_hadolint_finds_nothing():
    hadolint = require_binary("hadolint")
    done = subprocess.run(
        [hadolint, "--no-color", "-"], input=DOCKERFILE, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("extras", "requirement"),
    [("", "."), ("cluster", ".[cluster]"), ("cluster,azure", ".[cluster,azure]")],
)
def test_the_extras_build_arg_may_be_empty(extras, requirement):
    """The requirement the build stage hands pip, as the RUN shell expands it."""
    [expression] = set(re.findall(r'"(\.\$\{EXTRAS[^"]*)"', DOCKERFILE))
    done = subprocess.run(
        ["sh", "-c", f'echo "{expression}"'],
        env={"EXTRAS": extras, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.strip() == requirement


def test_the_wheel_the_image_installs_gives_a_working_pullgate(tmp_path):
    # What the build stage copies, built where it would be: outside the checkout.
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "gate", source / "gate", ignore=shutil.ignore_patterns("__pycache__"))
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "--wheel-dir",
            str(wheels),
            str(source),
        ],
        check=True,
        timeout=300,
        capture_output=True,
    )
    [wheel] = wheels.glob("pullgate-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    # The image installs pullgate's dependencies from wheels too; here they come from the test's
    # own environment (a plain path entry: its .pth files, e.g. an editable pullgate, stay unread).
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    here = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(site) / "test-deps.pth").write_text("\n".join(sorted(here)) + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "-q",
            str(wheel),
        ],
        check=True,
        timeout=300,
        capture_output=True,
    )
    entrypoint = env_dir / "bin" / "pullgate"

    def run(*args):
        return subprocess.run(args, capture_output=True, text=True, timeout=60, cwd=tmp_path)

    assert run(python, "-c", "import gate; print(gate.__file__)").stdout.startswith(str(env_dir))
    version = run(entrypoint, "--version")
    assert version.returncode == 0 and "pullgate" in version.stdout
    explained = run(
        entrypoint, "explain", str(ROOT / "tests/data/explain/describe-harbor-x509.txt")
    )
    assert explained.returncode == 1 and "ERROR tls" in explained.stdout
