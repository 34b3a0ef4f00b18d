"""Hostile and broken input through the real command line (`python -m gate check --offline` as a
subprocess, so stderr is what a user sees): every run ends quickly, in bounded memory, with a
finding or a one-line error naming the file (and the line when there is one), exit 2 when the
input cannot be read, and never a traceback.

The walker's own unit tests are in test_manifests.py; these are the end-to-end guarantees.
"""

from __future__ import annotations

import base64
import json
import os
import re
import resource
import stat
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MEMORY_LIMIT = 768 * 1024 * 1024  # address space of the child: a blow-up dies instead of swapping
TIME_LIMIT = 30.0
DIGEST = "sha256:" + "a" * 64


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def report(self) -> dict:
        return json.loads(self.stdout)

    def causes(self) -> set[str]:
        return {f["cause"] for f in self.report["findings"]}


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def pullgate(*args: str, stdin: bytes | None = None, cwd: Path | None = None) -> Run:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "gate", *args],
        input=stdin if stdin is not None else b"",
        capture_output=True,
        env=env,
        cwd=cwd,
        timeout=TIME_LIMIT,
        preexec_fn=_limit_memory,
    )
    run = Run(
        done.returncode,
        done.stdout.decode("utf-8", "replace"),
        done.stderr.decode("utf-8", "replace"),
        time.monotonic() - started,
    )
    assert "Traceback" not in run.stderr, run.stderr
    assert run.exit_code in (0, 1, 2), run
    return run


def check(path: Path | str, *extra: str) -> Run:
    return pullgate("check", "--offline", str(path), *extra)


def assert_input_error(run: Run, file: Path | str, line: int | range | None, *words: str) -> None:
    """Exit 2, and stderr is one line: `pullgate: FILE[:LINE]: message` with `words` in it
    (`line` None: no line; a range: any line in it)."""
    assert run.exit_code == 2, run
    assert run.stdout == ""
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    if str(file) == "-":  # stdin is named as the reports name it: `stdin line N`
        m = re.match(r"pullgate: stdin(?: line (\d+))?: ", lines[0])
    else:
        m = re.match(rf"pullgate: {re.escape(str(file))}(?::(\d+))?: ", lines[0])
    assert m, lines[0]
    if line is None:
        assert m.group(1) is None, lines[0]
    else:
        assert m.group(1) is not None and int(m.group(1)) in (
            line if isinstance(line, range) else (line,)
        ), lines[0]
    for word in words:
        assert word in lines[0], lines[0]


def write(tmp_path: Path, text: str | bytes, name: str = "app.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def pod(image_line: str = "image: registry.example.com/shop/web:1.0") -> str:
    return (
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n"
        f"    - name: web\n      {image_line}\n"
    )


# --- alias bombs, deep nesting, size ----------------------------------------------------------


def billion_laughs(levels: int = 9, indent: str = "") -> str:
    lines = [f'{indent}a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels + 1):
        lines.append(f"{indent}a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_stops_quickly_in_bounded_memory(tmp_path):
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lol}\ndata:\n"
    path = write(tmp_path, text + billion_laughs(indent="  "))
    run = check(path)
    assert_input_error(run, path, range(5, 15), "too many aliases")  # one of the alias lines
    assert run.seconds < 10


def test_alias_bomb_in_the_containers_stops(tmp_path):
    containers = ",".join(["*c8"] * 10)
    text = (
        "x:\n"
        + billion_laughs(8, indent="  ").replace('"lol"', "{name: a, image: nginx}")
        + "---\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n"
        + f"  containers: [{containers}]\n"
    )
    path = write(tmp_path, text.replace("&a", "&c").replace("*a", "*c"))
    run = check(path)
    assert run.exit_code == 2, run
    assert "too many aliases" in run.stderr
    assert len(run.stderr.splitlines()) == 1


def test_merge_key_bomb_stops(tmp_path):
    lines = ["m0: &m0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8}"]
    for i in range(1, 40):
        lines.append(f"m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}], k{i}: {i}}}")
    path = write(tmp_path, "\n".join(lines) + "\n")
    run = check(path)
    assert run.exit_code == 2, run
    assert run.stderr.startswith(f"pullgate: {path}:")
    assert run.seconds < 10


@pytest.mark.parametrize("opener, closer", [("[", "]"), ("{a: ", "}")])
def test_deep_flow_nesting_is_a_one_line_error(tmp_path, opener, closer):
    depth = 100_000
    path = write(tmp_path, "x: " + opener * depth + "1" + closer * depth + "\n")
    run = check(path)
    assert_input_error(run, path, 1, "nesting deeper than")
    assert run.seconds < 10


def test_deep_json_nesting_indented_with_a_tab_is_a_one_line_error(tmp_path):
    depth = 100_000
    path = write(tmp_path, "[\t" + "[" * depth + "]" * depth + "]\n", name="app.json")
    run = check(path)
    assert_input_error(run, path, 1, "nesting deeper than")


def test_a_pull_secret_nested_too_deeply_is_a_finding_not_a_crash(tmp_path):
    nested = base64.b64encode(b"[" * 100_000).decode()
    items = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}},
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "default", "namespace": "default"},
            "imagePullSecrets": [{"name": "pull"}],
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/dockerconfigjson",
            "metadata": {"name": "pull", "namespace": "default"},
            "data": {".dockerconfigjson": nested},
        },
    ]
    state = write(
        tmp_path, json.dumps({"apiVersion": "v1", "kind": "List", "items": items}), "s.json"
    )
    run = check(write(tmp_path, pod()), "--cluster-state", str(state), "--format", "json")
    assert run.exit_code == 1, run
    assert "not valid JSON" in run.stdout


def test_deep_block_nesting_is_a_one_line_error(tmp_path):
    text = "".join("  " * i + f"k{i}:\n" for i in range(2000)) + "  " * 2000 + "v\n"
    path = write(tmp_path, text)
    run = check(path)
    assert run.exit_code == 2, run
    assert "nesting deeper than" in run.stderr
    assert len(run.stderr.splitlines()) == 1


def test_50_mb_binary_file_is_refused_at_once(tmp_path):
    block = bytes(range(11, 256)) * 4096  # no NUL, no newline, not UTF-8
    path = write(tmp_path, block * (50 * 1024 * 1024 // len(block) + 1))
    run = check(path)
    assert_input_error(run, path, 1, "not UTF-8", "0x80")
    assert run.seconds < 10


def test_50_mb_value_is_read_in_bounded_time_and_memory(tmp_path):
    text = pod() + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n  blob: "
    path = write(tmp_path, text + "a" * (50 * 1024 * 1024) + "\n")
    run = check(path, "--format", "json")
    assert run.exit_code == 0, run.stderr
    assert run.report["summary"]["images"] == 1
    assert run.seconds < 20


# --- encodings and bytes --------------------------------------------------------------------


def test_non_utf8_file_names_the_line_and_byte(tmp_path):
    path = write(tmp_path, pod().encode() + b"# caf\xe9\n")
    assert_input_error(check(path), path, 9, "not UTF-8", "0xe9")


def test_binary_file_with_nul_bytes_is_refused(tmp_path):
    path = write(tmp_path, b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 64, "tool.yaml")
    assert_input_error(check(path), path, 1, "binary data")


def test_binary_on_stdin_is_refused():
    run = pullgate("check", "--offline", "-", stdin=b"\x00\x01\x02garbage\xff")
    assert_input_error(run, "-", 1, "binary data")


def test_utf16_with_byte_order_mark_is_read(tmp_path):
    path = write(tmp_path, pod().encode("utf-16"))
    run = check(path, "--format", "json")
    assert run.exit_code == 0, run.stderr
    assert run.report["summary"]["images"] == 1


def test_control_characters_are_a_one_line_error_with_the_line(tmp_path):
    path = write(tmp_path, pod() + "x: \x07bell\n")
    assert_input_error(check(path), path, 9, "unacceptable character")


# --- YAML that parses oddly -----------------------------------------------------------------


def test_tab_indentation_is_a_syntax_error_with_its_line(tmp_path):
    path = write(tmp_path, pod().replace("      image", "\timage"))
    run = check(path)
    assert run.exit_code == 2, run
    assert re.match(rf"pullgate: {re.escape(str(path))}:8: .*tab", run.stderr), run.stderr
    assert len(run.stderr.splitlines()) == 1


def test_json_indented_with_tabs_is_read(tmp_path):
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web"},
        "spec": {"containers": [{"name": "web", "image": "registry.example.com/web:1.0"}]},
    }
    path = write(tmp_path, json.dumps(body, indent="\t"), "pod.json")
    run = check(path, "--format", "json")
    assert run.exit_code == 0, run.stderr
    assert run.report["summary"]["images"] == 1


def test_duplicate_image_keys_check_the_last_one(tmp_path):
    text = pod(f"image: registry.example.com/web:1.0@{DIGEST}\n      image: Not A Reference")
    path = write(tmp_path, text)
    run = check(path, "--format", "json")
    assert run.exit_code == 1
    finding = run.report["findings"][0]
    assert (finding["cause"], finding["image"], finding["line"]) == (
        "invalid-reference",
        "Not A Reference",
        9,
    )


def test_unquoted_helm_template_is_a_finding_on_its_line(tmp_path):
    path = write(tmp_path, pod("image: {{ .Values.image }}"))
    run = check(path, "--format", "json")
    assert run.exit_code == 1, run.stderr
    finding = run.report["findings"][0]
    assert finding["line"] == 8
    assert "unrendered template" in finding["evidence"]


def test_quoted_helm_template_is_an_invalid_reference(tmp_path):
    path = write(tmp_path, pod('image: "{{ .Values.image.repository }}:{{ .Values.tag }}"'))
    run = check(path, "--format", "json")
    assert run.exit_code == 1
    assert run.causes() == {"invalid-reference"}


def test_helm_control_lines_are_a_one_line_syntax_error(tmp_path):
    text = "{{- if .Values.enabled }}\n" + pod() + "{{- end }}\n"
    path = write(tmp_path, text)
    run = check(path)
    assert run.exit_code == 2, run
    assert run.stderr.startswith(f"pullgate: {path}:")
    assert len(run.stderr.splitlines()) == 1


def test_python_object_tags_are_never_constructed(tmp_path):
    marker = tmp_path / "pwned"
    line = f'image: !!python/object/apply:os.system ["touch {marker}"]'
    path = write(tmp_path, pod(line))
    run = check(path)
    assert not marker.exists()
    assert run.exit_code in (1, 2)
    assert len(run.stderr.splitlines()) <= 1


# --- wrong types ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "image_line, problem",
    [
        ("image: 123", "image is not a string (int)"),
        ("image: 1.5e+999", "image is not a string (float)"),
        ("image: true", "image is not a string (bool)"),
        ("image: [a, b]", "image is not a string (sequence)"),
        ("image:", "container has no image"),
        ('image: ""', "image is empty"),
    ],
)
def test_wrong_image_types_are_findings_on_their_line(tmp_path, image_line, problem):
    path = write(tmp_path, pod(image_line))
    run = check(path, "--format", "json")
    assert run.exit_code == 1, run.stderr
    [finding] = run.report["findings"]
    assert problem in finding["evidence"]
    assert finding["line"] == 8


@pytest.mark.parametrize(
    "spec",
    [
        "spec: []",
        "spec: null",
        "spec: 5",
        "spec:\n  containers: null",
        "spec:\n  containers: nginx",
        "spec:\n  containers: {name: a}",
        "spec:\n  template: []",
        "spec:\n  template:\n    spec: [1, 2]",
        "spec:\n  template:\n    spec:\n      containers: [[], 1, null]",
    ],
)
def test_wrong_types_in_workloads_never_crash(tmp_path, spec):
    text = f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n{spec}\n"
    run = check(write(tmp_path, text), "--format", "json")
    assert run.exit_code in (0, 1), run.stderr
    assert run.stderr == ""
    for finding in run.report["findings"]:
        assert finding["line"] >= 1


def test_containers_that_are_not_mappings_are_findings(tmp_path):
    text = pod().replace("    - name: web\n      image: registry.example.com/shop/web:1.0\n", "")
    path = write(tmp_path, text.rstrip("\n") + " [nginx, 5, null]\n")
    run = check(path, "--format", "json")
    assert run.exit_code == 1
    assert len(run.report["findings"]) == 3
    assert all("container is not a mapping" in f["evidence"] for f in run.report["findings"])


@pytest.mark.parametrize(
    "text",
    [
        "kind: [Pod]\nspec: {containers: [{image: nginx}]}\n",
        "kind: 5\n",
        "metadata: []\nkind: Pod\nspec: {containers: [{image: nginx}]}\n",
        "kind: Pod\nmetadata: {name: [a], namespace: {x: 1}}\n"
        "spec: {containers: [{image: nginx}]}\n",
        "[1, 2, {kind: Pod, spec: {containers: [{image: nginx}]}}]\n",
        "kind: List\nitems: 7\n",
        "kind: List\nitems: [null, 1, {kind: Pod, spec: {containers: [{image: 5}]}}]\n",
    ],
)
def test_odd_objects_are_read_or_refused_in_one_line(tmp_path, text):
    run = check(write(tmp_path, text), "--format", "json")
    if run.exit_code == 2:
        assert len(run.stderr.splitlines()) == 1
        assert run.stderr.startswith("pullgate: ")
    else:
        assert run.stderr == ""
        json.loads(run.stdout)


def test_empty_file_is_a_usage_error(tmp_path):
    path = write(tmp_path, "")
    run = check(path)
    assert run.exit_code == 2
    assert run.stderr.startswith("pullgate: no Kubernetes objects found")
    assert len(run.stderr.splitlines()) == 1


# --- files and directories ------------------------------------------------------------------


def test_symlink_loop_in_a_directory_reads_each_file_once(tmp_path):
    root = tmp_path / "manifests"
    (root / "apps").mkdir(parents=True)
    write(root / "apps", pod())
    (root / "apps" / "again").symlink_to(root)  # apps/again/apps/again/... forever
    (root / "self").symlink_to(root / "self")  # a link to itself: not a directory, not a file
    run = check(root, "--format", "json")
    assert run.exit_code in (0, 2), run
    if run.exit_code == 0:
        assert run.report["summary"]["images"] == 1
    else:
        assert len(run.stderr.splitlines()) == 1


def test_symlink_loop_file_is_a_one_line_error(tmp_path):
    link = tmp_path / "loop.yaml"
    link.symlink_to(link)
    run = check(link)
    assert run.exit_code == 2
    assert run.stderr.startswith(f"pullgate: {link}")
    assert len(run.stderr.splitlines()) == 1


def test_broken_symlink_is_a_one_line_error(tmp_path):
    link = tmp_path / "gone.yaml"
    link.symlink_to(tmp_path / "missing.yaml")
    assert_input_error(check(link), link, None, "no such file")


def test_directory_without_manifests_is_a_one_line_error(tmp_path):
    (tmp_path / "docs").mkdir()
    write(tmp_path / "docs", "# nothing\n", "README.md")
    assert_input_error(check(tmp_path / "docs"), tmp_path / "docs", None, "no manifests found")


def test_named_pipe_in_a_directory_is_not_waited_on(tmp_path):
    write(tmp_path, pod())
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    run = check(tmp_path)
    assert_input_error(run, fifo, None, "not a regular file")
    assert run.seconds < 10


# --- issue 10: every read capped, flag and config values, containment, CI log injection --------


def test_a_device_named_on_the_command_line_is_refused_at_once():
    run = check("/dev/zero")
    assert_input_error(run, "/dev/zero", None, "a device, not a file")
    assert run.seconds < 10


def test_a_named_link_to_a_device_is_refused(tmp_path):
    link = tmp_path / "app.yaml"
    link.symlink_to("/dev/zero")
    assert_input_error(check(link), link, None, "a device, not a file")


def test_endless_stdin_stops_at_the_size_limit():
    run = pullgate("check", "--offline", "-", stdin=b"#" * (65 * 1024 * 1024))
    assert_input_error(run, "-", None, "larger than 64 MiB")


@pytest.mark.parametrize(
    "flag, value",
    [
        ("--timeout", "nan"),
        ("--timeout", "-1"),
        ("--deadline", "inf"),
        ("--deadline", "1e999"),
        ("--platform", "linux/arm/v²"),
        ("--platform", "linux"),
    ],
)
def test_bad_flag_value_is_one_line_exit_2(tmp_path, flag, value):
    run = check(write(tmp_path, pod()), flag, value)
    assert run.exit_code == 2 and run.stdout == ""
    assert len(run.stderr.splitlines()) == 1 and run.stderr.startswith("pullgate: "), run.stderr


@pytest.mark.parametrize(
    "config, line",
    [
        ("deadline: .inf\n", 1),
        ("timeout: .nan\n", 1),
        ("platforms: [linux/arm/v²]\n", 1),
        ('ignore:\n  - cause: mutable-tag\n    reason: "x \\ud800"\n', 3),
        ("ignore: " + "[" * 5000 + "]" * 5000 + "\n", 1),
        ("ca-file: ca.pem\n", 1),
        ("docker-config: creds.json\n", 1),
        ("insecure-registries: [registry.corp.example]\n", 1),
        ("concurrency: 100000\n", 1),
    ],
)
def test_bad_config_value_is_one_line_with_file_and_line(tmp_path, config, line):
    (tmp_path / ".pullgate.yaml").write_text(config)
    write(tmp_path, pod())
    run = pullgate("check", "--offline", "app.yaml", cwd=tmp_path)
    assert_input_error(run, tmp_path / ".pullgate.yaml", line)


def test_report_file_that_is_a_symlink_is_replaced_not_written_through(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    (tmp_path / "pullgate.sarif").symlink_to(victim)
    write(tmp_path, pod())
    run = pullgate(
        "check", "--offline", "app.yaml", "--format", "sarif=pullgate.sarif", cwd=tmp_path
    )
    assert run.exit_code in (0, 1), run
    assert victim.read_text() == "keep me\n"
    assert not (tmp_path / "pullgate.sarif").is_symlink()
    assert json.loads((tmp_path / "pullgate.sarif").read_text())["version"] == "2.1.0"


def test_a_report_to_dev_null_leaves_dev_null_a_device(tmp_path):
    run = check(write(tmp_path, pod()), "--format", "json", "-o", os.devnull)
    assert run.exit_code in (0, 1), run
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


def test_a_report_to_a_link_to_this_process_stdout_is_printed_and_the_link_kept(tmp_path):
    link = tmp_path / "stdout"
    link.symlink_to("/proc/self/fd/1")  # what /dev/stdout is
    run = check(write(tmp_path, pod()), "--format", "json", "-o", str(link))
    assert run.exit_code in (0, 1), run
    assert link.is_symlink()
    assert run.stdout.startswith("{") and '"pullgate"' in run.stdout


def test_a_report_to_a_named_pipe_is_written_into_it(tmp_path):
    fifo = tmp_path / "report.pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    time.sleep(0.2)  # the reader opens the pipe first
    run = check(write(tmp_path, pod()), "--format", "json", "-o", str(fifo))
    reader.join(10)
    assert run.exit_code in (0, 1), run
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert json.loads(received[0])["pullgate"]


def test_a_report_to_a_named_pipe_nobody_reads_is_a_one_line_error(tmp_path):
    fifo = tmp_path / "report.pipe"
    os.mkfifo(fifo)
    run = check(write(tmp_path, pod()), "--format", "json", "-o", str(fifo))
    assert run.exit_code == 2
    assert run.stderr == f"pullgate: {fifo}: cannot write json report: no reader\n"


def test_a_report_is_never_written_through_a_link_to_a_device(tmp_path):
    link = tmp_path / "pullgate.sarif"
    link.symlink_to("/dev/zero")
    run = check(write(tmp_path, pod()), "--format", f"sarif={link}")
    assert run.exit_code == 2
    assert "a link to a device" in run.stderr
    assert link.is_symlink()


def test_error_never_quotes_a_file_outside_the_tree(tmp_path):
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "token.yaml").write_text("password: hunter2-SECRET\n\tbroken: [\n")
    tree = tmp_path / "manifests"
    tree.mkdir()
    write(tree, pod())
    (tree / "elsewhere").symlink_to(secret)
    run = check(tree, "--format", "json")
    assert "hunter2" not in run.stdout + run.stderr
    assert run.report["findings"] is not None and run.exit_code in (0, 1)


HOSTILE = """\
apiVersion: v1
kind: Pod
metadata:
  name: "web\\n::warning::injected-name"
  namespace: "##[error]ns"
spec:
  containers:
    - name: "##vso[task.setvariable variable=x]1"
      image: "registry.example.com/a:1\\r\\n::error::injected\\u001b[31m"
    - name: plain
      image: busybox
"""
OUR_GITHUB_COMMANDS = ("::group::", "::endgroup::", "::error ", "::warning ", "::notice ")


def _log_commands(output: str, ours: tuple[str, ...] = ()) -> list[str]:
    """Lines a GitHub or Azure runner would act on, other than the format's own commands."""
    bad = []
    for line in output.split("\n"):
        body = line.lstrip()
        if body.startswith(ours):
            body = body[body.index("::", 2) + 2 :] if body.startswith("::") else body
        elif body.startswith("::"):
            bad.append(line)
        rest = body
        if ours and rest.startswith(("##[group]", "##[endgroup]", "##vso[task.")):
            rest = rest[rest.index("]") + 1 :]
        if "##[" in rest or "##vso[" in rest.lower() or "\r" in line or "\x1b" in line:
            bad.append(line)
    return bad


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "junit", "github", "azure", "markdown"])
def test_values_from_manifests_never_become_ci_log_commands(tmp_path, fmt):
    (tmp_path / ".pullgate.yaml").write_text(
        'ignore:\n  - cause: rate-limit-risk\n    reason: "ok\\n::warning::from-reason ##vso[x]"\n'
    )
    write(tmp_path, HOSTILE)
    run = pullgate("check", "--offline", "app.yaml", "--format", fmt, cwd=tmp_path)
    assert run.exit_code == 1, run
    ours = {"github": OUR_GITHUB_COMMANDS, "azure": ("##[group]", "##[endgroup]", "##vso[task.")}
    assert _log_commands(run.stdout, ours.get(fmt, ())) == []


def test_azure_ignored_line_is_neutralised(tmp_path):
    (tmp_path / ".pullgate.yaml").write_text(
        "ignore:\n  - cause: rate-limit-risk\n"
        '    reason: "##vso[task.complete result=Succeeded;]"\n'
    )
    write(tmp_path, pod("image: busybox:1.36"))
    run = pullgate("check", "--offline", "app.yaml", "--format", "azure", cwd=tmp_path)
    ignored = [line for line in run.stdout.splitlines() if "ignored" in line]
    assert ignored and all("##vso[" not in line for line in ignored), run.stdout


@pytest.mark.parametrize(
    "flag", ["--kubeconfig", "--cluster-state", "--docker-config", "--ca-file", "--config"]
)
def test_a_device_given_to_a_file_flag_is_refused(tmp_path, flag):
    run = check(write(tmp_path, pod()), flag, "/dev/zero")
    assert run.exit_code == 2 and run.seconds < 10
    assert run.stderr.splitlines() == [f"pullgate: {flag} /dev/zero: a device, not a file"]


def test_explain_refuses_a_device():
    run = pullgate("explain", "/dev/zero")
    assert run.exit_code == 2
    assert run.stderr == "pullgate: /dev/zero: cannot read: a device, not a file\n"


HOSTILE_EVENT = (
    'Failed to pull image "r.example.com/a:1": rpc error: code = Unknown desc = 401 Unauthorized:'
    " ##vso[task.complete result=Succeeded;]done ##[error]x \x1b[2J\x07 \u202e\n::error::INJ\n"
)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_explain_never_prints_a_ci_log_command_it_read(fmt):
    run = pullgate("explain", "--format", fmt, stdin=HOSTILE_EVENT.encode())
    assert run.exit_code == 1, run
    assert "##vso[" not in run.stdout and "##[" not in run.stdout
    assert not any(line.lstrip().startswith("::") for line in run.stdout.splitlines())
    assert not re.search("[\x00\x1b\u202e]", run.stdout)


@pytest.mark.parametrize("value", ["a b", "host/path", "x\n::warning::y", ""])
def test_insecure_registry_that_is_no_host_is_one_line_exit_2(tmp_path, value):
    run = check(write(tmp_path, pod()), "--insecure-registry", value)
    assert run.exit_code == 2
    assert len(run.stderr.splitlines()) == 1 and "HOST[:PORT]" in run.stderr


def test_error_naming_a_hostile_file_name_stays_one_inert_line(tmp_path):
    run = check(tmp_path / "x\n::warning::injected ##vso[task.complete]")
    assert run.exit_code == 2
    assert len(run.stderr.splitlines()) == 1, run.stderr
    assert "##vso[" not in run.stderr and "\\n::warning" in run.stderr
