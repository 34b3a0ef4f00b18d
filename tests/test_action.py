"""The GitHub Action and the Azure Pipelines template call pullgate the way the CLI works.

The action's run steps are executed for real with bash, the way the runner does: inputs arrive as
environment variables, `pullgate` is the real CLI of this checkout, GITHUB_OUTPUT and
GITHUB_STEP_SUMMARY are files. The manifests used need no network (invalid references and
imagePullPolicy Never are decided offline).
"""

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gate.cli import FORMAT_NAMES, check

ROOT = Path(__file__).parents[1]
ACTION = yaml.safe_load((ROOT / "action.yml").read_text())
STEPS = {step.get("id") or step["name"]: step for step in ACTION["runs"]["steps"]}
TEMPLATE = yaml.safe_load((ROOT / "examples/azure-pipelines/pullgate-steps.yml").read_text())
WORKFLOW = yaml.safe_load((ROOT / "examples/github/pullgate.yml").read_text())
CHECK_OPTIONS = {opt for param in check.params for opt in param.opts}

FAILING = """\
apiVersion: v1
kind: Pod
metadata:
  name: api
  namespace: shop
spec:
  containers:
    - name: api
      image: Contoso.azurecr.io/Shop/API:1.0
"""
WARNING_ONLY = """\
apiVersion: v1
kind: Pod
metadata:
  name: tool
spec:
  containers:
    - name: tool
      image: tool:1.0
      imagePullPolicy: Never
"""


def flags(script: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+)", script))


def test_action_declares_the_inputs_and_outputs_the_docs_promise():
    assert set(ACTION["inputs"]) >= {
        "paths",
        "platforms",
        "kubeconfig",
        "aks",
        "config",
        "fail-on",
        "format",
        "sarif-file",
        "version",
    }
    assert ACTION["inputs"]["paths"]["required"] is True
    assert set(ACTION["outputs"]) == {"result", "report"}
    assert ACTION["runs"]["using"] == "composite"


def test_run_scripts_take_inputs_from_env_not_expressions():
    for step in ACTION["runs"]["steps"]:
        if "run" in step:
            assert "${{" not in step["run"], step["name"]


def test_run_step_uses_only_flags_pullgate_check_has():
    used = flags(STEPS["run"]["run"]) - {"--version"}
    assert used and used <= CHECK_OPTIONS


def test_run_step_formats_exist():
    formats = set(re.findall(r"--format \"?([a-z]+)\b", STEPS["run"]["run"]))
    assert formats == {"github", "json", "markdown", "sarif"}
    assert formats <= set(FORMAT_NAMES)
    allowed = re.search(r"case \"\$PULLGATE_FORMAT\" in\n\s+([a-z|]+)\)", STEPS["run"]["run"])
    assert set(allowed[1].split("|")) - {"none"} <= set(FORMAT_NAMES)


@pytest.fixture
def runner_env(tmp_path, monkeypatch):
    """A fake runner: a `pullgate` on PATH that is this checkout's CLI, and the runner's files."""
    monkeypatch.chdir(tmp_path)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "pullgate"
    shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m gate "$@"\n')
    shim.chmod(0o755)
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT),
        "HOME": str(tmp_path),
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
    }
    return tmp_path, env


def run_step(env, step, **inputs):
    """Run a composite step's script as the runner would, inputs from the step's env mapping."""
    values = {name: spec.get("default", "") for name, spec in ACTION["inputs"].items()}
    values.update(inputs)
    step_env = dict(env)
    for key, expr in step.get("env", {}).items():
        name = re.fullmatch(r"\$\{\{ (inputs\.[\w-]+|runner\.temp|github\.action_path) \}\}", expr)
        source = name[1]
        if source == "runner.temp":
            step_env[key] = env["HOME"]
        elif source == "github.action_path":
            step_env[key] = str(ROOT)
        else:
            step_env[key] = str(values[source.removeprefix("inputs.")])
    return subprocess.run(
        ["bash", "-c", step["run"]], env=step_env, capture_output=True, text=True, timeout=60
    )


def outputs(tmp_path):
    return dict(line.split("=", 1) for line in (tmp_path / "output").read_text().splitlines())


def test_failing_gate_annotates_summarises_and_fails(runner_env):
    tmp_path, env = runner_env
    (tmp_path / "app.yaml").write_text(FAILING)
    done = run_step(env, STEPS["run"], paths="app.yaml")
    assert done.returncode == 1, done.stderr
    assert "::error file=app.yaml,line=9,title=pullgate invalid-reference" in done.stdout
    assert "ERROR invalid-reference" in done.stdout  # the text report in the log
    assert (tmp_path / "summary.md").read_text().startswith("## ❌ pullgate: FAIL")
    out = outputs(tmp_path)
    assert out["result"] == "fail"
    assert json.loads(Path(out["report"]).read_text())["summary"]["errors"] == 1
    assert json.loads((tmp_path / "pullgate.sarif").read_text())["runs"][0]["results"]


def test_fail_on_never_reports_without_failing(runner_env):
    tmp_path, env = runner_env
    (tmp_path / "app.yaml").write_text(FAILING)
    done = run_step(env, STEPS["run"], paths="app.yaml", **{"fail-on": "never"})
    assert done.returncode == 0, done.stderr
    assert outputs(tmp_path)["result"] == "fail"


def test_fail_on_warning_fails_on_warnings(runner_env):
    tmp_path, env = runner_env
    (tmp_path / "app.yaml").write_text(WARNING_ONLY)
    assert run_step(env, STEPS["run"], paths="app.yaml").returncode == 0
    done = run_step(env, STEPS["run"], paths="app.yaml", **{"fail-on": "warning"})
    assert done.returncode == 1
    assert "::error file=app.yaml" in done.stdout


def test_usage_problems_fail_even_with_fail_on_never(runner_env):
    tmp_path, env = runner_env
    done = run_step(env, STEPS["run"], paths="missing.yaml", **{"fail-on": "never"})
    assert done.returncode == 2
    assert outputs(tmp_path)["result"] == "error"


def test_bad_fail_on_value_is_rejected(runner_env):
    tmp_path, env = runner_env
    done = run_step(env, STEPS["run"], paths="app.yaml", **{"fail-on": "sometimes"})
    assert done.returncode == 2
    assert "::error title=pullgate::fail-on must be" in done.stdout


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        ({}, "{root}"),
        ({"aks": "rg/aks"}, "{root}[azure]"),
        ({"kubeconfig": "kc", "aks": "rg/aks"}, "{root}[cluster,azure]"),
        ({"version": "0.1.0"}, "pullgate==0.1.0"),
        ({"version": "0.1.0", "kubeconfig": "kc"}, "pullgate[cluster]==0.1.0"),
    ],
)
def test_install_step_pins_what_it_installs(runner_env, inputs, expected):
    tmp_path, env = runner_env
    log = tmp_path / "pip-args"
    fake = tmp_path / "bin" / "python"
    fake.write_text(f'#!/bin/sh\necho "$@" > {shlex.quote(str(log))}\n')
    fake.chmod(0o755)
    done = run_step(env, STEPS["Install pullgate"], paths="x", **inputs)
    assert done.returncode == 0, done.stderr
    assert log.read_text().split()[-1] == expected.format(root=ROOT)


def test_azure_template_runs_pullgate_in_azure_cli_and_publishes_junit():
    steps = {s.get("task", "script"): s for s in TEMPLATE["steps"]}
    script = steps["AzureCLI@2"]["inputs"]["inlineScript"]
    assert "pullgate check" in script
    assert flags(script) <= CHECK_OPTIONS
    assert "--format azure" in script and '--format "junit=' in script
    published = steps["PublishTestResults@2"]["inputs"]
    assert published["testResultsFormat"] == "JUnit"
    assert published["testResultsFiles"] in script


def test_example_workflow_uses_the_actions_real_inputs():
    steps = WORKFLOW["jobs"]["images"]["steps"]
    uses = [s.get("uses", "") for s in steps]
    assert any(u.startswith("azure/login@") for u in uses)
    assert any(u.startswith("github/codeql-action/upload-sarif@") for u in uses)
    [gate] = [s for s in steps if s.get("id") == "pullgate"]
    assert set(gate["with"]) <= set(ACTION["inputs"])
    assert WORKFLOW["permissions"]["id-token"] == "write"
    assert WORKFLOW["permissions"]["security-events"] == "write"
