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
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import require_binary

from gate.cli import FORMAT_NAMES, check

ROOT = Path(__file__).parents[1]
ACTION = yaml.safe_load((ROOT / "action.yml").read_text())
STEPS = {step.get("id") or step["name"]: step for step in ACTION["runs"]["steps"]}
TEMPLATE = yaml.safe_load((ROOT / "examples/azure-pipelines/pullgate-steps.yml").read_text())
WORKFLOW = yaml.safe_load((ROOT / "examples/github/pullgate.yml").read_text())
BASH = shutil.which("bash") or "/bin/bash"  # the steps may run with a PATH that has no bash
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


EXPRESSION = re.compile(r"\$\{\{ (.+?) \}\}")


def evaluate(expression: str, context: dict[str, str]) -> str | bool:
    """The few expression forms the action uses: names, `a || b`, `a == 'literal'`."""
    if " == " in expression:
        left, literal = expression.split(" == ")
        return evaluate(left, context) == literal.strip("'")
    for alternative in expression.split(" || "):
        value = context.get(alternative.strip(), "")
        if value:
            return value
    return ""


class FakeRunner:
    """Runs the composite action's `run:` steps as the runner does: inputs and step outputs reach
    the scripts through the env mapping, GITHUB_OUTPUT is a fresh file per step, GITHUB_STEP_SUMMARY
    one file for the whole job."""

    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.tmp_path = tmp_path
        self.env = env
        self.temp = tmp_path / "runner-temp"
        self.temp.mkdir(exist_ok=True)
        self.outputs: dict[str, dict[str, str]] = {}

    def context(self, inputs: dict[str, str]) -> dict[str, str]:
        values = {f"inputs.{n}": str(s.get("default", "")) for n, s in ACTION["inputs"].items()}
        values.update({f"inputs.{name}": value for name, value in inputs.items()})
        values["runner.temp"] = str(self.temp)
        values["github.action_path"] = str(ROOT)
        for step, outputs in self.outputs.items():
            values.update({f"steps.{step}.outputs.{k}": v for k, v in outputs.items()})
        return values

    def run(self, step_id: str, **inputs: str) -> subprocess.CompletedProcess:
        step = STEPS[step_id]
        context = self.context(inputs)
        step_env = dict(self.env)
        for key, expr in step.get("env", {}).items():
            step_env[key] = str(evaluate(EXPRESSION.fullmatch(expr)[1], context))
        output = self.tmp_path / f"output-{step_id}"
        output.write_text("")
        step_env["GITHUB_OUTPUT"] = str(output)
        done = subprocess.run(
            [BASH, "-c", step["run"]], env=step_env, capture_output=True, text=True, timeout=60
        )
        self.outputs[step_id] = dict(
            line.split("=", 1) for line in output.read_text().splitlines() if line
        )
        return done

    def condition(self, step_id: str, **inputs: str) -> str | bool:
        return evaluate(EXPRESSION.fullmatch(STEPS[step_id]["if"])[1], self.context(inputs))


@pytest.fixture
def runner(tmp_path, monkeypatch):
    """A fake runner whose Prepare step has run and whose installed `pullgate` is this checkout's
    CLI (the Install step itself is tested on its own, with a stand-in Python)."""
    monkeypatch.chdir(tmp_path)
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(ROOT),
        "HOME": str(tmp_path),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
    }
    fake = FakeRunner(tmp_path, env)
    shim = tmp_path / "pullgate"
    shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m gate "$@"\n')
    shim.chmod(0o755)
    fake.use = lambda **inputs: use_action(fake, shim, **inputs)  # type: ignore[attr-defined]
    return fake


def use_action(fake: FakeRunner, shim: Path, **inputs: str) -> subprocess.CompletedProcess:
    """One use of the action in the job: Prepare, then Run with the installed pullgate."""
    assert fake.run("prepare").returncode == 0
    fake.outputs["install"] = {"pullgate": str(shim)}
    return fake.run("run", **inputs)


def test_failing_gate_annotates_summarises_and_fails(runner):
    (runner.tmp_path / "app.yaml").write_text(FAILING)
    done = runner.use(paths="app.yaml")
    assert done.returncode == 1, done.stderr
    assert "::error file=app.yaml,line=9,title=pullgate invalid-reference" in done.stdout
    assert "ERROR invalid-reference" in done.stdout  # the text report in the log
    assert (runner.tmp_path / "summary.md").read_text().startswith("## ❌ pullgate: FAIL")
    out = runner.outputs["run"]
    assert out["result"] == "fail"
    assert json.loads(Path(out["report"]).read_text())["summary"]["errors"] == 1
    assert json.loads((runner.tmp_path / "pullgate.sarif").read_text())["runs"][0]["results"]


def test_fail_on_never_reports_without_failing(runner):
    (runner.tmp_path / "app.yaml").write_text(FAILING)
    done = runner.use(paths="app.yaml", **{"fail-on": "never"})
    assert done.returncode == 0, done.stderr
    assert runner.outputs["run"]["result"] == "fail"


def test_fail_on_warning_fails_on_warnings(runner):
    (runner.tmp_path / "app.yaml").write_text(WARNING_ONLY)
    assert runner.use(paths="app.yaml").returncode == 0
    done = runner.use(paths="app.yaml", **{"fail-on": "warning"})
    assert done.returncode == 1
    assert "::error file=app.yaml" in done.stdout


def test_usage_problems_fail_even_with_fail_on_never(runner):
    done = runner.use(paths="missing.yaml", **{"fail-on": "never"})
    assert done.returncode == 2
    assert runner.outputs["run"] == {"result": "error"}


def test_bad_fail_on_value_is_rejected(runner):
    done = runner.use(paths="app.yaml", **{"fail-on": "sometimes"})
    assert done.returncode == 2
    assert "::error title=pullgate::fail-on must be" in done.stdout
    assert runner.outputs["run"] == {"result": "error"}


def test_each_use_of_the_action_gets_its_own_directory(runner):
    runner.run("prepare")
    first = Path(runner.outputs["prepare"]["dir"])
    runner.run("prepare")
    second = Path(runner.outputs["prepare"]["dir"])
    assert first != second
    assert first.parent == second.parent == runner.temp


def test_a_second_use_shows_only_its_own_report(runner):
    (runner.tmp_path / "bad.yaml").write_text(FAILING)
    (runner.tmp_path / "good.yaml").write_text(WARNING_ONLY)
    runner.use(paths="bad.yaml")
    first_report = runner.outputs["run"]["report"]
    done = runner.use(paths="good.yaml")
    assert done.returncode == 0, done.stderr
    assert "invalid-reference" not in done.stdout
    report = runner.outputs["run"]["report"]
    assert report != first_report
    assert json.loads(Path(report).read_text())["summary"]["errors"] == 0
    summary = (runner.tmp_path / "summary.md").read_text()
    assert summary.count("pullgate: FAIL") == 1 and summary.count("pullgate: PASS") == 1


def test_a_second_use_that_cannot_run_repeats_nothing_of_the_first(runner):
    (runner.tmp_path / "bad.yaml").write_text(FAILING)
    runner.use(paths="bad.yaml")
    summary_after_first = (runner.tmp_path / "summary.md").read_text()
    done = runner.use(paths="missing.yaml")
    assert done.returncode == 2
    assert "invalid-reference" not in done.stdout
    assert (runner.tmp_path / "summary.md").read_text() == summary_after_first
    assert "report" not in runner.outputs["run"]
    assert not (runner.tmp_path / "pullgate.sarif").exists()  # nothing stale to upload


def python_stub(path: Path, log: Path, version_ok: bool = True) -> Path:
    """A Python that records what it is asked; `-m venv DIR` makes a venv of recording stubs."""
    path.write_text(
        "#!/bin/sh\n"
        f'echo "$0 $*" >> {shlex.quote(str(log))}\n'
        f"{'' if version_ok else 'exit 1'}\n"
        'if [ "$1 $2" = "-m venv" ]; then\n'
        '  mkdir -p "$3/bin" && cp "$0" "$3/bin/python" && cp "$0" "$3/bin/pullgate"\n'
        "fi\n"
    )
    path.chmod(0o755)
    return path


def test_prepare_uses_the_runners_python3_when_it_is_new_enough(runner):
    runner.run("prepare")
    python = runner.outputs["prepare"]["python"]
    assert python and subprocess.run([python, "-c", "import venv"], timeout=30).returncode == 0
    assert runner.condition("setup-python") is False


@pytest.mark.parametrize("runner_python", ["missing", "too old"])
def test_prepare_asks_for_python_only_when_the_runner_has_none_usable(runner, runner_python):
    bin_dir = runner.tmp_path / "runner-bin"
    bin_dir.mkdir()
    (bin_dir / "mktemp").symlink_to(shutil.which("mktemp"))
    if runner_python == "too old":
        python_stub(bin_dir / "python3", runner.tmp_path / "log", version_ok=False)
    runner.env["PATH"] = str(bin_dir)
    assert runner.run("prepare").returncode == 0
    assert runner.outputs["prepare"]["python"] == ""
    assert runner.condition("setup-python") is True


def test_python_set_up_by_the_action_leaves_the_jobs_path_alone():
    step = next(s for s in ACTION["runs"]["steps"] if s.get("id") == "setup-python")
    assert step["uses"].startswith("actions/setup-python@")
    assert str(step["with"]["update-environment"]).lower() == "false"


def test_install_takes_the_python_set_up_when_the_runner_has_none(runner):
    runner.outputs["prepare"] = {"python": "", "dir": "d"}
    runner.outputs["setup-python"] = {"python-path": "/opt/hostedtoolcache/Python/bin/python"}
    expression = EXPRESSION.fullmatch(STEPS["install"]["env"]["PULLGATE_PYTHON"])[1]
    assert evaluate(expression, runner.context({})) == "/opt/hostedtoolcache/Python/bin/python"


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
def test_install_pins_what_it_installs_into_its_own_venv(runner, inputs, expected):
    log = runner.tmp_path / "calls"
    python = python_stub(runner.tmp_path / "python3", log)
    runner.run("prepare")
    runner.outputs["prepare"]["python"] = str(python)
    done = runner.run("install", paths="x", **inputs)
    assert done.returncode == 0, done.stderr
    venv_dir = Path(runner.outputs["prepare"]["dir"]) / "venv"
    create, install, version = log.read_text().splitlines()
    assert create == f"{python} -m venv {venv_dir}"
    assert install.startswith(f"{venv_dir}/bin/python -m pip install ")
    assert install.split()[-1] == expected.format(root=ROOT)
    assert version == f"{venv_dir}/bin/pullgate --version"
    assert runner.outputs["install"]["pullgate"] == f"{venv_dir}/bin/pullgate"


@pytest.mark.parametrize("step_id", [s["id"] for s in ACTION["runs"]["steps"] if "run" in s])
def test_action_scripts_pass_shellcheck(step_id):
    shellcheck = require_binary("shellcheck")
    done = subprocess.run(
        [shellcheck, "--shell=bash", "-"],
        input=STEPS[step_id]["run"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout


def azure_env_name(variable: str) -> str:
    """The environment variable Azure Pipelines gives a predefined variable to scripts."""
    return variable.upper().replace(".", "_")


def azure_scripts() -> dict[str, str]:
    scripts = {}
    for step in TEMPLATE["steps"]:
        if "script" in step:
            scripts[step["displayName"]] = step["script"]
        elif "inlineScript" in step.get("inputs", {}):
            scripts[step["displayName"]] = step["inputs"]["inlineScript"]
    return scripts


def azure_step(display_name: str) -> dict:
    return next(s for s in TEMPLATE["steps"] if s.get("displayName") == display_name)


def run_azure_script(display_name: str, tmp_path: Path, **parameters: str):
    """Run a template script as the agent would: `${{ parameters.x }}` in the step's env mapping
    filled in by template expansion, predefined variables as environment variables."""
    values = {p["name"]: p.get("default", "") for p in TEMPLATE["parameters"]}
    values.update(parameters)
    env = {
        "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "AGENT_TEMPDIRECTORY": str(tmp_path / "agent-temp"),
        "BUILD_ARTIFACTSTAGINGDIRECTORY": str(tmp_path / "staging"),
    }
    for key, expr in azure_step(display_name).get("env", {}).items():
        env[key] = re.sub(r"\$\{\{ parameters\.(\w+) \}\}", lambda m: values[m[1]], expr)
    return subprocess.run(
        [BASH, "-c", azure_scripts()[display_name]],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def recording_stub(path: Path, log: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'#!/bin/sh\nprintf "%s\\n" "$0" "$@" >> {shlex.quote(str(log))}\n')
    path.chmod(0o755)


def test_azure_template_scripts_take_parameters_from_env_only():
    for name, script in azure_scripts().items():
        assert "${{" not in script, name
        assert "$(" not in script.replace("$(echo", ""), name  # no agent macros pasted in either


def test_azure_template_passes_hostile_paths_as_values(tmp_path):
    log = tmp_path / "args"
    recording_stub(tmp_path / "agent-temp/pullgate-venv/bin/pullgate", log)
    hostile = "rendered/a.yaml\n$(touch pwned) 'b;c' `touch pwned2`"
    done = run_azure_script("pullgate check", tmp_path, paths=hostile, aks="rg/x; touch pwned3")
    assert done.returncode == 0, done.stderr
    assert not list(tmp_path.glob("pwned*"))
    args = log.read_text().splitlines()[1:]
    assert args[:7] == [
        "check",
        "rendered/a.yaml",
        "$(touch",
        "pwned)",
        "'b;c'",
        "`touch",
        "pwned2`",
    ]
    assert args[7:9] == ["--aks", "rg/x; touch pwned3"]


def test_azure_template_fail_on_warning_adds_strict(tmp_path):
    log = tmp_path / "args"
    recording_stub(tmp_path / "agent-temp/pullgate-venv/bin/pullgate", log)
    run_azure_script("pullgate check", tmp_path, paths="r", aks="rg/x", failOn="warning")
    assert log.read_text().splitlines()[-1] == "--strict"


def test_azure_template_installs_its_parameter_into_its_own_venv(tmp_path):
    log = tmp_path / "calls"
    stub = tmp_path / "bin/python"
    stub.parent.mkdir()
    stub.write_text(
        "#!/bin/sh\n"
        f'echo "$0 $*" >> {shlex.quote(str(log))}\n'
        'if [ "$1 $2" = "-m venv" ]; then\n'
        '  mkdir -p "$3/bin" && cp "$0" "$3/bin/python" && cp "$0" "$3/bin/pullgate"\n'
        "fi\n"
    )
    stub.chmod(0o755)
    spec = "pullgate[azure] @ git+https://example.test/x/pullgate@v1.2.3"
    done = run_azure_script("Install pullgate", tmp_path, pullgate=spec)
    assert done.returncode == 0, done.stderr
    venv_dir = tmp_path / "agent-temp/pullgate-venv"
    create, install, version = log.read_text().splitlines()
    assert create == f"{stub} -m venv {venv_dir}"
    assert install.startswith(f"{venv_dir}/bin/python -m pip install") and install.endswith(spec)
    assert version == f"{venv_dir}/bin/pullgate --version"


def test_azure_template_default_installs_the_repository_not_an_unreleased_version():
    [default] = [p["default"] for p in TEMPLATE["parameters"] if p["name"] == "pullgate"]
    assert re.fullmatch(
        r"pullgate\[azure\] @ git\+https://github\.com/[\w-]+/pullgate@\S+", default
    )


def test_azure_template_runs_pullgate_in_azure_cli_and_publishes_junit():
    steps = {s.get("task", "script"): s for s in TEMPLATE["steps"]}
    script = steps["AzureCLI@2"]["inputs"]["inlineScript"]
    assert 'pullgate" check' in script
    assert flags(script) <= CHECK_OPTIONS
    assert "--format azure" in script and '--format "junit=' in script
    published = steps["PublishTestResults@2"]["inputs"]
    assert published["testResultsFormat"] == "JUnit"
    junit = re.sub(
        r"\$\((\w+\.\w+)\)", lambda m: "$" + azure_env_name(m[1]), published["testResultsFiles"]
    )
    assert junit in script


def test_example_workflow_uses_the_actions_real_inputs():
    steps = WORKFLOW["jobs"]["images"]["steps"]
    uses = [s.get("uses", "") for s in steps]
    assert any(u.startswith("azure/login@") for u in uses)
    assert any(u.startswith("github/codeql-action/upload-sarif@") for u in uses)
    [gate] = [s for s in steps if s.get("id") == "pullgate"]
    assert set(gate["with"]) <= set(ACTION["inputs"])
    assert WORKFLOW["permissions"]["id-token"] == "write"
    assert WORKFLOW["permissions"]["security-events"] == "write"
