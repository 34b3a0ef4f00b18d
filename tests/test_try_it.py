"""The README's "Try it" commands work on a fresh Debian: Debian's python3 refuses pip outside a
virtual environment (PEP 668) and has no `python` binary. `scripts/test-image` runs the first
command, as written, in a fresh Debian container; these tests keep both commands in that shape.
"""

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).parents[1]
SECTION = (ROOT / "README.md").read_text().split("## Try it", 1)[1].split("\n## ", 1)[0]
COMMANDS = [block.strip() for block in re.findall(r"```\n(.+?)\n```", SECTION, re.S)]


def steps(command: str) -> list[list[str]]:
    return [shlex.split(part) for part in command.split("&&")]


def test_try_it_has_two_commands_one_running_the_demo_one_the_tests():
    demo, tests = COMMANDS
    assert "examples/demo.py" in demo
    assert steps(tests)[-1] == ["scripts/test"]


def test_each_command_makes_and_activates_a_venv_with_python3_first():
    for command in COMMANDS:
        create, activate, *_ = steps(command)
        assert create == ["python3", "-m", "venv", ".venv"]
        assert activate == [".", ".venv/bin/activate"]


def test_the_referenced_files_exist():
    demo, tests = COMMANDS
    assert (ROOT / "examples/demo.py").is_file()
    assert (ROOT / "scripts/test").stat().st_mode & 0o111


def test_the_demo_extra_is_declared():
    assert "[demo]" in COMMANDS[0]
    assert re.search(r"^demo = \[", (ROOT / "pyproject.toml").read_text(), re.M)
