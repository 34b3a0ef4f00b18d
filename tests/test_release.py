"""Releasing: the version comes from the git tag, sdist and wheel build and pass `twine check`, and
the release workflow does what the README says (checked for structure and with actionlint).

The builds run on a copy of this checkout committed into a fresh git repository and tagged there,
the way the release workflow's checkout sees a tag push.
"""

import os
import shutil
import subprocess
import sys
import tarfile
import venv
from pathlib import Path

import pytest
import yaml
from conftest import require_binary

ROOT = Path(__file__).parents[1]
RELEASE = ROOT / ".github/workflows/release.yml"
TAG = "v1.2.3"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "pullgate tests",
    "GIT_AUTHOR_EMAIL": "tests@pullgate.invalid",
    "GIT_COMMITTER_NAME": "pullgate tests",
    "GIT_COMMITTER_EMAIL": "tests@pullgate.invalid",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def run(*args: object, cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, **GIT_ENV, **kwargs.pop("env", {})}
    return subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        **kwargs,
    )


def git(*args: object, cwd: Path) -> str:
    return run("git", *args, cwd=cwd).stdout.strip()


def project_files() -> list[str]:
    """What a clone of this checkout holds: tracked and new files, not ignored ones."""
    listed = git("ls-files", "--cached", "--others", "--exclude-standard", "-z", cwd=ROOT)
    return [name for name in listed.split("\0") if name and (ROOT / name).is_file()]


@pytest.fixture(scope="module")
def tagged_checkout(tmp_path_factory) -> Path:
    repo = tmp_path_factory.mktemp("release") / "pullgate"
    for name in project_files():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, repo / name)
    git("init", "-q", "-b", "main", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "release", cwd=repo)
    git("tag", "-a", TAG, "-m", TAG, cwd=repo)
    return repo


@pytest.fixture(scope="module")
def distributions(tagged_checkout, tmp_path_factory) -> dict[str, Path]:
    """`python -m build` as the release workflow runs it: the sdist, then the wheel from it."""
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "build", "--no-isolation", "--outdir", out, ".", cwd=tagged_checkout)
    return {path.suffix: path for path in out.iterdir()}


def test_a_version_tag_names_the_sdist_and_the_wheel(distributions):
    assert sorted(p.name for p in distributions.values()) == [
        "pullgate-1.2.3-py3-none-any.whl",
        "pullgate-1.2.3.tar.gz",
    ]


def test_twine_accepts_the_sdist_and_the_wheel(distributions):
    done = run(
        sys.executable, "-m", "twine", "check", "--strict", *distributions.values(), cwd=ROOT
    )
    assert done.stdout.count("PASSED") == 2


def test_the_sdist_carries_the_tests_and_no_build_leftovers(distributions):
    with tarfile.open(distributions[".gz"]) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    assert {"pyproject.toml", "README.md", "gate/cli.py", "tests/test_release.py"} <= names
    assert not any(n.startswith(("build/", "dist/")) for n in names)


def test_the_installed_wheel_reports_the_tag_version(distributions, tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False, system_site_packages=False)
    python = env_dir / "bin/python"
    # The dependencies (pyproject.toml) from this environment (a plain path entry, so an editable
    # pullgate stays unread).
    site = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=ROOT)
    here = subprocess.run(
        [sys.executable, "-c", "import click, click_option_group, yaml; print(click.__file__)"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    (Path(site.stdout.strip()) / "deps.pth").write_text(str(Path(here).parents[1]) + "\n")
    run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "-q",
        distributions[".whl"], cwd=ROOT)  # fmt: skip
    # The installed wheel, not a checkout on PYTHONPATH.
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [str(env_dir / "bin/pullgate"), "--version"],
        cwd=tmp_path, env=clean, capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    assert done.stdout.strip() == "pullgate, version 1.2.3"


def test_commits_after_a_tag_are_a_development_version_of_the_next(tagged_checkout, tmp_path):
    clone = tmp_path / "clone"
    git("clone", "-q", tagged_checkout, clone, cwd=tmp_path)
    (clone / "NOTES").write_text("after the release\n")
    git("add", "NOTES", cwd=clone)
    git("commit", "-q", "-m", "after", cwd=clone)
    version = run(sys.executable, "-m", "setuptools_scm", cwd=clone).stdout.strip()
    assert version.startswith("1.2.4.dev1+g")


def test_a_source_archive_of_the_tag_keeps_its_version(tagged_checkout, tmp_path):
    """A GitHub source download has no .git: .git_archival.txt, filled in by `git archive`."""
    archive = tmp_path / "source.tar"
    git("archive", "--format=tar", "-o", archive, TAG, cwd=tagged_checkout)
    unpacked = tmp_path / "source"
    unpacked.mkdir()
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(unpacked, filter="data")
        else:  # Python before 3.10.12 / 3.11.4: our own archive, made just above
            tar.extractall(unpacked)
    version = run(sys.executable, "-m", "setuptools_scm", cwd=unpacked).stdout.strip()
    assert version == "1.2.3"


def release_steps(job: str) -> list[dict]:
    return yaml.safe_load(RELEASE.read_text())["jobs"][job]["steps"]


def uses(job: str, action: str) -> dict:
    [step] = [s for s in release_steps(job) if s.get("uses", "").startswith(action + "@")]
    return step


def test_the_release_runs_on_version_tags_only():
    workflow = yaml.safe_load(RELEASE.read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert triggers == {"push": {"tags": ["v[0-9]*"]}}
    assert workflow["permissions"] == {"contents": "read"}


def test_the_release_checks_what_it_builds_and_that_it_is_the_tags_version():
    script = "\n".join(step.get("run", "") for step in release_steps("dist"))
    assert "python -m build" in script and "twine check --strict dist/*" in script
    assert uses("dist", "actions/checkout")["with"]["fetch-depth"] == 0  # tags for setuptools-scm
    assert "dist/pullgate-$version-py3-none-any.whl" in script


def test_pypi_publishing_is_trusted_publishing_without_a_token():
    job = yaml.safe_load(RELEASE.read_text())["jobs"]["pypi"]
    assert job["permissions"] == {"id-token": "write"}
    assert "with" not in uses("pypi", "pypa/gh-action-pypi-publish")  # no password input
    assert job["environment"]["name"] == "pypi"


def test_the_image_is_multi_arch_with_sbom_and_provenance():
    build = uses("image", "docker/build-push-action")["with"]
    assert set(build["platforms"].split(",")) == {"linux/amd64", "linux/arm64"}
    assert build["sbom"] is True and build["provenance"] == "mode=max"
    assert build["push"] is True
    assert "VERSION=${{ needs.dist.outputs.version }}" in build["build-args"]
    assert uses("image", "docker/setup-qemu-action")


def test_release_notes_are_drafted_from_the_built_files():
    [step] = [s for s in release_steps("notes") if "run" in s]
    assert "gh release create" in step["run"]
    assert "--draft" in step["run"] and "--generate-notes" in step["run"]


def actionlint_in(repo: Path) -> subprocess.CompletedProcess:
    actionlint = require_binary("actionlint")
    git("init", "-q", cwd=repo)
    return subprocess.run(
        [actionlint, "-no-color"], cwd=repo, capture_output=True, text=True, timeout=120
    )


def test_actionlint_finds_nothing_in_the_release_workflow(tmp_path):
    workflows = tmp_path / ".github/workflows"
    workflows.mkdir(parents=True)
    shutil.copy(RELEASE, workflows / "release.yml")
    done = actionlint_in(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_finds_nothing_in_the_example_workflow_using_this_action(tmp_path):
    """With `uses: ./` actionlint reads action.yml and checks every input the example passes."""
    workflows = tmp_path / ".github/workflows"
    workflows.mkdir(parents=True)
    shutil.copy(ROOT / "action.yml", tmp_path / "action.yml")
    example = (ROOT / "examples/github/pullgate.yml").read_text()
    local = example.replace("uses: OWNER/pullgate@main", "uses: ./")
    assert local != example
    (workflows / "pullgate.yml").write_text(local)
    done = actionlint_in(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
