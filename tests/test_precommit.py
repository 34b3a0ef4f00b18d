"""pullgate as a pre-commit hook: `.pre-commit-hooks.yaml` run by the real pre-commit
(`pre-commit try-repo` on a fresh git repository), and the `pullgate-pre-commit` entry it names.

pre-commit builds the hook's environment from this repository with pip. The tests keep that
offline: pip reads no configuration and no index, only the wheelhouse `scripts/test` downloads
(PULLGATE_TEST_WHEELHOUSE: pullgate's dependencies and its build backend).
"""

import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parents[1]
HOOKS = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())

BAD_POD = """\
apiVersion: v1
kind: Pod
metadata: {name: api}
spec:
  containers:
    - name: api
      image: Contoso/API:1.0
"""
WARNING_POD = """\
apiVersion: v1
kind: Pod
metadata: {name: tool}
spec:
  containers:
    - name: tool
      image: registry.example/tool:1.0
      imagePullPolicy: Never
"""
WORKFLOW = "name: ci\non: push\njobs: {}\n"


def missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing (CI)")
    pytest.skip(f"{what} is missing")


@pytest.fixture(scope="module")
def pre_commit_env(tmp_path_factory) -> dict[str, str]:
    try:
        import pre_commit  # noqa: F401
    except ImportError:
        missing("pre-commit (the test extra)")
    wheelhouse = os.environ.get("PULLGATE_TEST_WHEELHOUSE", "")
    if not wheelhouse or not Path(wheelhouse).is_dir():
        missing("PULLGATE_TEST_WHEELHOUSE (made by scripts/test)")
    return {
        **os.environ,
        "PRE_COMMIT_HOME": str(tmp_path_factory.mktemp("pre-commit-home")),
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": wheelhouse,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@pullgate.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@pullgate.invalid",
    }


def try_repo(env: dict[str, str], repo: Path, files: dict[str, str]):
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, env=env, check=True, timeout=60)
    for name, text in files.items():
        (repo / name).write_text(text)
    subprocess.run(["git", "add", "-A"], cwd=repo, env=env, check=True, timeout=60)
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), "pullgate"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_pre_commit_try_repo_fails_a_commit_with_an_image_that_cannot_pull(
    pre_commit_env, tmp_path
):
    done = try_repo(pre_commit_env, tmp_path / "repo", {"pod.yaml": BAD_POD, "ci.yml": WORKFLOW})
    assert done.returncode == 1, done.stdout + done.stderr
    assert "ERROR invalid-reference" in done.stdout
    assert "pod.yaml:7" in done.stdout
    assert "0 registry requests" in done.stdout  # offline


def test_pre_commit_try_repo_passes_a_commit_without_manifests(pre_commit_env, tmp_path):
    files = {"ci.yml": WORKFLOW, "package.json": '{"name": "x"}\n'}
    done = try_repo(pre_commit_env, tmp_path / "repo", files)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "pullgate check --offline" in done.stdout and "Passed" in done.stdout


def test_the_hook_runs_the_installed_entry_on_yaml_and_json():
    [hook] = HOOKS
    [script] = entry_points(group="console_scripts", name=hook["entry"])
    assert hook["id"] == "pullgate" and hook["language"] == "python"
    assert script.value == "gate.precommit:main"
    assert set(hook["types_or"]) == {"yaml", "json"}


def hook(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gate.precommit", *args],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_files_without_kubernetes_objects_are_nothing_to_check(tmp_path):
    (tmp_path / "ci.yml").write_text(WORKFLOW)
    (tmp_path / "package.json").write_text('{"name": "x"}\n')
    done = hook(tmp_path, "ci.yml", "package.json")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_options_from_the_hook_args_reach_pullgate(tmp_path):
    (tmp_path / "tool.yaml").write_text(WARNING_POD)
    assert hook(tmp_path, "tool.yaml").returncode == 0
    assert hook(tmp_path, "--strict", "tool.yaml").returncode == 1


def test_an_option_value_that_is_a_yaml_file_stays_an_option(tmp_path):
    (tmp_path / "policy.yaml").write_text("registries:\n  deny: [registry.example]\n")
    (tmp_path / "tool.yaml").write_text(WARNING_POD)
    done = hook(tmp_path, "--config", "policy.yaml", "tool.yaml")
    assert done.returncode == 1
    assert "registry-not-allowed" in done.stdout


def test_a_file_that_does_not_parse_is_reported_with_its_line(tmp_path):
    (tmp_path / "broken.yaml").write_text("kind: Pod\nspec: [unclosed\n")
    done = hook(tmp_path, "broken.yaml")
    assert done.returncode == 2
    assert done.stderr.startswith("pullgate: broken.yaml:")
