"""First contact (issue 11): help that reads whole, one clear line for every mistake, reports
where CI users look."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from outcomes import MIXED, write
from test_manifests import as_nobody

from gate.cli import main

ROOT = Path(__file__).resolve().parent.parent
POD = (
    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n"
    "    - name: web\n      image: busybox\n"
)


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(main, list(args), input=input)


@pytest.fixture
def manifest(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return str(write(tmp_path, MIXED))


def test_top_level_help_shows_every_summary_whole():
    result = run("--help")
    assert result.exit_code == 0
    commands = result.stdout.split("Commands:")[1]
    assert "..." not in commands
    assert "Name the cause of pull failures: kubectl output or live." in result.stdout


def test_check_help_groups_its_options():
    help_text = run("check", "--help").stdout
    headings = ["Output:", "Policy:", "Registry:", "Cluster (", "AKS ("]
    positions = [help_text.index(h) for h in headings]
    assert positions == sorted(positions)
    assert help_text.index("--aks RG/CLUSTER") > help_text.index("AKS (")
    assert help_text.index("--timeout") < help_text.index("Cluster (")


def test_missing_docker_config_is_one_line_exit_2(manifest):
    result = run("check", manifest, "--docker-config", "nope.json")
    assert result.exit_code == 2
    assert result.stderr == "pullgate: --docker-config nope.json: no such file\n"


def test_missing_kubeconfig_says_the_file_does_not_exist(manifest):
    result = run("check", manifest, "--kubeconfig", "x")
    assert result.exit_code == 2
    assert result.stderr == "pullgate: --kubeconfig x: no such file\n"


def test_unknown_flag_is_one_line_exit_2(manifest):
    result = run("check", manifest, "--no-such-flag")
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1 and "--no-such-flag" in result.stderr


def test_platform_list_entry_in_config_names_file_and_line(manifest, tmp_path):
    (tmp_path / ".pullgate.yaml").write_text("timeout: 3\nplatforms: [linux]\n")
    result = run("check", "--offline", manifest)
    assert result.exit_code == 2
    assert ".pullgate.yaml:2: invalid platform 'linux'" in result.stderr


def _on_a_terminal(*args: str, env: dict | None = None, stdin_tty: bool, stdout_tty: bool):
    """Run pullgate with stdin and/or stdout on a pseudo-terminal; (exit code, stdout bytes)."""
    controller, terminal = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "gate", *args],
            stdin=terminal if stdin_tty else subprocess.DEVNULL,
            stdout=terminal if stdout_tty else subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
            timeout=30,
        )
        os.close(terminal)
        terminal = -1
        output = b""
        if stdout_tty:
            while True:
                try:
                    chunk = os.read(controller, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                output += chunk
        else:
            output = done.stdout
        return done.returncode, output, done.stderr.decode()
    finally:
        os.close(controller)
        if terminal >= 0:
            os.close(terminal)


@pytest.mark.parametrize("command", ["check", "pin"])
def test_stdin_on_a_terminal_is_refused_not_waited_on(command):
    code, _, stderr = _on_a_terminal(command, "-", stdin_tty=True, stdout_tty=False)
    assert code == 2
    assert stderr.startswith(f"pullgate: {command} - reads manifests from stdin: pipe them in")


@pytest.mark.parametrize("args", [(), ("-",)])
def test_explain_without_input_on_a_terminal_is_refused_not_waited_on(args):
    code, _, stderr = _on_a_terminal("explain", *args, stdin_tty=True, stdout_tty=False)
    assert code == 2
    assert stderr.startswith("pullgate: explain reads kubectl output: pipe it in")


def test_no_color_is_honoured_on_a_terminal(tmp_path):
    path = str(write(tmp_path, MIXED))
    _, coloured, _ = _on_a_terminal("check", "--offline", path, stdin_tty=False, stdout_tty=True)
    _, plain, _ = _on_a_terminal(
        "check", "--offline", path, env={"NO_COLOR": "1"}, stdin_tty=False, stdout_tty=True
    )
    assert b"\x1b[" in coloured
    assert b"\x1b[" not in plain and b"pullgate" in plain


def test_when_every_report_goes_to_a_file_the_text_report_goes_to_stdout(manifest, tmp_path):
    result = run("check", "--offline", manifest, "--format", "sarif=out.sarif")
    assert result.exit_code == 1
    assert (tmp_path / "out.sarif").exists()
    assert result.stdout.startswith("pullgate ") and "FAIL:" in result.stdout


@pytest.mark.parametrize("second", ["sarif=out.json", "sarif=./out.json"])
def test_two_formats_to_one_file_are_refused(manifest, tmp_path, second):
    result = run("check", "--offline", manifest, "--format", "json=out.json", "--format", second)
    assert result.exit_code == 2
    assert "both the json and the sarif report would be written there" in result.stderr
    assert not (tmp_path / "out.json").exists()


def test_sarif_uris_are_relative_to_the_repository_root_even_outside_cwd(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "deploy").mkdir()
    (repo / "tools").mkdir()
    write(repo / "deploy", MIXED)
    monkeypatch.chdir(repo / "tools")
    monkeypatch.delenv("GITHUB_WORKSPACE", raising=False)
    monkeypatch.delenv("BUILD_SOURCESDIRECTORY", raising=False)
    result = run("check", "--offline", "../deploy/app.yaml", "--format", "sarif")
    sarif = json.loads(result.stdout)["runs"][0]
    artifact = sarif["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert artifact == {"uri": "deploy/app.yaml", "uriBaseId": "%SRCROOT%"}
    assert sarif["originalUriBaseIds"]["%SRCROOT%"]["uri"] == repo.resolve().as_uri() + "/"


def _deployments(count: int) -> str:
    return "".join(
        f"---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app{i}\nspec:\n"
        f"  template:\n    spec:\n      containers:\n        - name: c\n"
        f"          image: busybox\n"
        for i in range(count)
    )


def test_text_table_prints_each_cause_row_once_and_one_line_per_use(tmp_path):
    path = write(tmp_path, _deployments(200))
    text = run("check", "--offline", str(path)).stdout
    assert text.count("Means:") == 2  # mutable-tag and rate-limit-risk
    assert text.count("Fix:") == 2
    assert len(text.splitlines()) < 2 * 200 + 20
    assert f"! {path}:11  Deployment app0  container c  busybox" in text


def test_text_counts_are_singular_for_one(tmp_path):
    text = run("check", "--offline", str(write(tmp_path, POD))).stdout
    assert "1 image use (1 unique)" in text and "1 image uses" not in text
    assert "0 registry requests" in text


def test_stdin_is_shown_as_stdin_line_n(tmp_path):
    text = run("check", "--offline", "-", input="\n" * 40 + POD).stdout
    assert "stdin line 48" in text and "-:48" not in text


def test_verbose_lists_the_images_that_passed(tmp_path):
    pinned = POD.replace("busybox", "registry.example.com/a@sha256:" + "a" * 64)
    text = run("check", "--offline", "--verbose", str(write(tmp_path, pinned))).stdout
    assert "PASSED (1 image use)" in text
    assert "registry.example.com/a@sha256:" in text


def test_junit_names_no_dash_slash_for_workloads_without_namespace(tmp_path):
    xml = run("check", "--offline", str(write(tmp_path, POD)), "--format", "junit").stdout
    assert "-/" not in xml and "Pod web" in xml


def test_fix_names_the_file_and_line_it_knows(tmp_path):
    text = run("check", "--offline", str(write(tmp_path, POD))).stdout
    assert "<file>" not in text and "<line>" not in text


def test_fix_that_differs_only_by_location_is_printed_once(tmp_path):
    path = write(tmp_path, _deployments(3).replace("image: busybox", "image: Bad/Name:1"))
    text = run("check", "--offline", str(path)).stdout
    section = text.split("ERROR invalid-reference")[1].split("\n\n")[0]
    assert section.count("Fix:") == 1 and "each file:line above" in section
    assert section.count(f"{path}:") == 3


def test_missing_paths_is_one_line_naming_the_help():
    result = run("check")
    assert result.exit_code == 2
    assert result.stderr == "pullgate: Missing argument 'PATHS...'. (see main check --help)\n"


def test_bare_pullgate_shows_the_commands():
    result = run()
    assert "Commands:" in result.stdout + result.stderr


def test_a_key_given_twice_in_the_config_names_both_lines(manifest, tmp_path):
    (tmp_path / ".pullgate.yaml").write_text("timeout: 3\ndeadline: 9\ntimeout: 40\n")
    result = run("check", "--offline", manifest)
    assert result.exit_code == 2
    assert result.stderr.endswith(".pullgate.yaml:3: duplicate key 'timeout' (first on line 1)\n")
    assert len(result.stderr.splitlines()) == 1


def test_a_key_given_twice_inside_an_ignore_rule_is_refused(manifest, tmp_path):
    (tmp_path / ".pullgate.yaml").write_text(
        "ignore:\n  - cause: mutable-tag\n    reason: ok\n    reason: later\n"
    )
    result = run("check", "--offline", manifest)
    assert result.exit_code == 2
    assert ".pullgate.yaml:4: duplicate key 'reason' (first on line 3)" in result.stderr


@pytest.mark.parametrize("key", ["? [timeout]\n: 3\n", "? {timeout: 3}\n: 3\n"])
def test_a_list_or_mapping_as_a_config_key_is_one_line(manifest, tmp_path, key):
    (tmp_path / ".pullgate.yaml").write_text(key)
    result = run("check", "--offline", manifest)
    assert result.exit_code == 2
    assert result.stderr.endswith(".pullgate.yaml:1: a key must be a name, not a list or mapping\n")
    assert len(result.stderr.splitlines()) == 1


def test_config_concurrency_is_bounded_as_the_flag_is(manifest, tmp_path):
    (tmp_path / ".pullgate.yaml").write_text("concurrency: 100000000000000000000\n")
    result = run("check", "--offline", manifest)
    assert result.exit_code == 2
    assert ".pullgate.yaml:1: concurrency must be an integer from 1 to 256" in result.stderr


STATE = (
    "apiVersion: v1\nkind: List\nitems:\n"
    "- {apiVersion: v1, kind: Node, metadata: {name: n1}}\n"
    "- {apiVersion: v1, kind: Namespace, metadata: {name: default}}\n"
)


@pytest.mark.parametrize(
    "state",
    [
        "apiVersion: v1\nkind: List\nitems: 3\n",
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: s}\nimagePullSecrets: 3\n",
        "apiVersion: v1\nkind: Node\nmetadata: {name: n}\nspec: {taints: 3}\n",
    ],
)
def test_a_cluster_state_field_of_the_wrong_type_is_no_traceback(manifest, tmp_path, state):
    (tmp_path / "state.yaml").write_text(state)
    result = run("check", "--offline", manifest, "--cluster-state", "state.yaml")
    assert result.exit_code in (0, 1, 2)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert len(result.stderr.splitlines()) <= 1


@pytest.mark.parametrize(
    "spec",
    [
        "tolerations: 3",
        "affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution:"
        " {nodeSelectorTerms: [{matchExpressions: 3}]}}}",
        "affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution:"
        " {nodeSelectorTerms: [{matchExpressions: [{key: a, operator: In, values: 3}]}]}}}",
    ],
)
def test_a_pod_spec_list_field_of_the_wrong_type_is_no_traceback(tmp_path, monkeypatch, spec):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "state.yaml").write_text(STATE)
    (tmp_path / "pod.yaml").write_text(POD.replace("spec:\n", f"spec:\n  {spec}\n"))
    result = run("check", "--offline", "pod.yaml", "--cluster-state", "state.yaml")
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code in (0, 1) and "Traceback" not in result.stderr


def _kubeconfig(server: str = "https://127.0.0.1:1", user: str = "{}") -> str:
    return (
        "apiVersion: v1\nkind: Config\ncurrent-context: a\ncontexts:\n"
        "- name: a\n  context: {cluster: c, user: u}\n"
        f"clusters:\n- name: c\n  cluster: {{server: '{server}'}}\n"
        f"users:\n- name: u\n  user: {user}\n"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "kc.yaml: empty kubeconfig"),
        ("- a\n", "kc.yaml:1: a kubeconfig is a mapping (clusters, contexts)"),
        ("apiVersion: v1\nclusters: 3\n", "kc.yaml:2: clusters must be a list of named entries"),
        ("apiVersion: v1\ncontexts: []\n", "kc.yaml: no current-context; name one with --context"),
        ("current-context: nope\ncontexts: []\n", "kc.yaml:1: no context 'nope' in contexts"),
        (
            _kubeconfig().replace("clusters:\n- name: c", "clusters:\n- name: d"),
            "kc.yaml:6: context 'a' names cluster 'c': not in clusters",
        ),
        (_kubeconfig(server="127.0.0.1:6443"), "kc.yaml:9: cluster 'c': server must be"),
        (
            _kubeconfig(user="{exec: {command: no-such-plugin, apiVersion: v1}}"),
            "kc.yaml:12: user 'u': exec command 'no-such-plugin' is not on PATH",
        ),
        ("kind: Config\x00\n", "kc.yaml:1: binary data (NUL byte)"),
    ],
)
def test_a_kubeconfig_mistake_is_one_line_with_file_and_line(manifest, tmp_path, text, expected):
    (tmp_path / "kc.yaml").write_text(text)
    result = run("check", manifest, "--kubeconfig", "kc.yaml")
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith(f"pullgate: {expected}")


def test_a_context_not_in_the_kubeconfig_lists_the_contexts(manifest, tmp_path):
    (tmp_path / "kc.yaml").write_text(_kubeconfig())
    result = run("snapshot", "--kubeconfig", "kc.yaml", "--context", "prod")
    assert result.exit_code == 2
    assert result.stderr == "pullgate: kc.yaml: no context 'prod' in contexts (a)\n"


def test_context_without_any_kubeconfig_says_which_file_is_missing(manifest, tmp_path, monkeypatch):
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    result = run("explain", "--context", "prod")
    assert result.exit_code == 2
    assert result.stderr == (
        f"pullgate: no kubeconfig: {tmp_path}/.kube/config does not exist and $KUBECONFIG is"
        " not set; give --kubeconfig FILE\n"
    )


def test_kubeconfig_env_naming_a_missing_file_is_named(manifest, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", "/nonexistent/config")
    result = run("check", manifest, "--context", "prod")
    assert result.stderr == "pullgate: $KUBECONFIG names /nonexistent/config: no such file\n"


def test_a_failing_exec_plugin_leaves_no_log_lines_only_pullgate_s_line(tmp_path):
    (tmp_path / "kc.yaml").write_text(
        _kubeconfig(user="{exec: {command: 'false', apiVersion: client.authentication.k8s.io/v1}}")
    )
    (tmp_path / "pod.yaml").write_text(POD)
    done = subprocess.run(
        [sys.executable, "-m", "gate", "check", "pod.yaml", "--kubeconfig", "kc.yaml"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("pullgate: cannot reach the kube API at https://127.0.0.1:1")
    assert len(done.stderr.splitlines()) == 1


def test_explain_on_a_directory_is_one_line(tmp_path):
    result = run("explain", str(tmp_path))
    assert result.exit_code == 2
    assert result.stderr == f"pullgate: {tmp_path}: cannot read: a directory, not a file\n"


@pytest.mark.parametrize("text", ["", "  \n\n"])
def test_explain_on_empty_stdin_is_not_a_clean_bill(text):
    result = run("explain", "-", input=text)
    assert result.exit_code == 2
    assert result.stderr == (
        "pullgate: stdin: empty: nothing to explain (did the command piped in fail?)\n"
    )


def test_explain_on_binary_data_is_refused(tmp_path):
    (tmp_path / "blob").write_bytes(b"\x7fELF\x00\x01\x02")
    result = run("explain", str(tmp_path / "blob"))
    assert result.exit_code == 2
    assert "blob: binary data (NUL byte)" in result.stderr


def test_explain_reads_a_utf16_file_as_powershell_writes_it(tmp_path):
    message = (
        'Failed to pull image "nginx:nope": rpc error: code = NotFound desc = failed to pull and'
        ' unpack image "docker.io/library/nginx:nope": failed to resolve reference'
        ' "docker.io/library/nginx:nope": docker.io/library/nginx:nope: not found\n'
    )
    (tmp_path / "out.txt").write_bytes(message.encode("utf-16"))
    result = run("explain", str(tmp_path / "out.txt"))
    assert result.exit_code == 1
    assert "tag-not-found" in result.stdout


def test_explain_refuses_registry_options_without_a_cluster(tmp_path):
    (tmp_path / "msg.txt").write_text('Back-off pulling image "x"\n')
    result = run("explain", str(tmp_path / "msg.txt"), "--timeout", "3", "--ca-file", __file__)
    assert result.exit_code == 2
    assert result.stderr == (
        "pullgate: --timeout, --ca-file apply to the live re-check only: add --kubeconfig or"
        " --context\n"
    )


def _pin_plan(files: list[Path]):  # noqa: ANN202
    from gate.pin import Edit, PinPlan

    plan = PinPlan()
    for path in files:
        text = path.read_text()
        start = text.index("busybox")
        plan.texts[str(path)] = text
        plan.edits[str(path)] = [
            Edit(None, start, start + 7, "busybox@sha256:" + "a" * 64, "busybox")  # type: ignore[arg-type]
        ]
    return plan


@pytest.fixture
def nobody_dir():
    import shutil
    import tempfile

    if os.geteuid() != 0:
        pytest.skip("needs root to drop to nobody")
    directory = Path(tempfile.mkdtemp(dir="/tmp", prefix="pullgate-nobody-"))
    directory.chmod(0o755)
    os.chown(directory, 65534, 65534)
    yield directory
    shutil.rmtree(directory)


def test_pin_write_refuses_a_read_only_file_in_a_writable_directory(nobody_dir):
    from gate.pin import write_pins

    path = nobody_dir / "app.yaml"
    path.write_text(POD)
    os.chown(path, 65534, 65534)
    path.chmod(0o444)
    plan = _pin_plan([path])
    assert as_nobody(lambda: write_pins(plan)) == f"{path}: cannot write: read-only file"
    assert path.read_text() == POD


def test_pin_write_edits_no_file_when_one_of_them_cannot_be_written(nobody_dir):
    from gate.pin import write_pins

    first, second = nobody_dir / "a.yaml", nobody_dir / "b.yaml"
    for path, mode in ((first, 0o644), (second, 0o444)):
        path.write_text(POD)
        os.chown(path, 65534, 65534)
        path.chmod(mode)
    plan = _pin_plan([first, second])
    assert "b.yaml: cannot write: read-only file" in as_nobody(lambda: write_pins(plan))
    assert first.read_text() == POD


def test_an_input_error_on_stdin_says_stdin_line_n():
    result = run("check", "--offline", "-", input="kind: Pod\nspec: [\n")
    assert result.exit_code == 2
    assert result.stderr.startswith("pullgate: stdin line 3: ")


@pytest.mark.parametrize(
    ("command", "what"), [("check", "Kubernetes objects"), ("pin", "container images")]
)
def test_nothing_found_on_stdin_names_stdin(command, what):
    result = run(command, "-", "--offline" if command == "check" else "--timeout=1", input="\n")
    assert result.exit_code == 2
    assert result.stderr == f"pullgate: no {what} found in stdin\n"


@pytest.mark.parametrize(
    "target", ["-"]
)  # /dev/stdout too, untested: a regression as root would replace it
def test_a_report_to_dev_stdout_or_dash_is_the_stdout_report(manifest, target):
    result = run("check", "--offline", manifest, "--format", f"json={target}")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["result"] == "fail"


def test_a_report_to_a_named_pipe_is_written_through_not_replaced(manifest, tmp_path):
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader is there before pullgate opens it
    try:
        result = run("check", "--offline", manifest, "--format", f"json={fifo}")
        received = os.read(fd, 1 << 16)  # the report is smaller than the pipe's buffer
    finally:
        os.close(fd)
    assert result.exit_code == 1, result.stderr
    assert json.loads(received)["result"] == "fail"
    assert fifo.is_fifo()


def test_a_report_to_a_named_pipe_nobody_reads_is_an_error_not_a_hang(manifest, tmp_path):
    os.mkfifo(tmp_path / "report.fifo")
    result = run("check", "--offline", manifest, "--format", "json=report.fifo")
    assert result.exit_code == 2
    assert result.stderr.startswith("pullgate: report.fifo: cannot write json report: ")


def test_a_report_to_a_device_is_refused_and_the_device_kept(manifest, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mknod needs root")
    device = tmp_path / "zero"
    os.mknod(device, 0o666 | 0o020000, os.makedev(1, 5))  # a character device: /dev/zero's
    link = tmp_path / "report.json"
    link.symlink_to(device)
    result = run("check", "--offline", manifest, "--format", f"json={link.name}")
    assert result.exit_code == 2
    assert re.search(
        r"report\.json: cannot write json report: a (?:link to a device|device, not a file)\n$",
        result.stderr,
    )
    assert link.is_symlink() and device.is_char_device()


def test_docker_config_auths_of_the_wrong_type_is_one_line(manifest, tmp_path):
    (tmp_path / "config.json").write_text('{"auths": ["ghcr.io"]}')
    result = run("check", manifest, "--docker-config", "config.json")
    assert result.exit_code == 2
    assert result.stderr == (
        "pullgate: config.json: auths is not an object of registry: credentials\n"
    )


def test_a_default_docker_config_the_user_cannot_reach_is_absent(manifest, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to drop to nobody")
    from gate.registry.credentials import DockerConfig

    home = tmp_path / "home"
    (home / ".docker").mkdir(parents=True)
    (home / ".docker" / "config.json").write_text('{"auths": {}}')
    home.chmod(0o700)  # as `docker run -u UID` leaves HOME=/root

    def load() -> None:
        os.environ.pop("DOCKER_CONFIG", None)
        os.environ["HOME"] = str(home)
        assert DockerConfig.load().keyring is not None

    assert as_nobody(load) == "no error"


def test_a_kubeconfig_nested_too_deeply_is_one_line(manifest, tmp_path):
    (tmp_path / "kc.yaml").write_text("a: " + "[" * 100_000)
    result = run("check", manifest, "--kubeconfig", "kc.yaml")
    assert result.exit_code == 2
    assert result.stderr == "pullgate: kc.yaml: invalid kubeconfig: nested too deeply\n"


@pytest.mark.parametrize(
    "flags",
    [
        ("check", "--context", ""),
        ("check", "--aks", ""),
        ("check", "--namespace", " "),
        ("check", "--subscription", ""),
        ("check", "--kubelet-object-id", ""),
        ("check", "--acr-resource-id", ""),
        ("check", "--output", ""),
        ("explain", "--context", ""),
        ("snapshot", "--context", ""),
    ],
)
def test_an_empty_value_is_a_mistake_not_the_flag_left_out(manifest, flags):
    command, flag, value = flags
    args = [command, manifest, flag, value] if command == "check" else [command, flag, value]
    result = run(*args)
    assert result.exit_code == 2
    assert result.stderr == f"pullgate: {flag} is empty: give a value or leave the flag out\n"


def test_an_empty_file_flag_says_it_is_empty(manifest):
    result = run("check", manifest, "--kubeconfig", "")
    assert result.stderr == "pullgate: --kubeconfig is empty: give a file or leave the flag out\n"


def test_a_file_named_twice_is_read_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "pod.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n"
        "spec: {containers: [{name: c, image: 'busybox:1.36'}]}\n"
    )
    result = run("check", "--offline", "m", "m/pod.yaml", "./m/pod.yaml")
    assert "1 image use " in result.stdout, result.stdout
