from pathlib import Path

import pytest

from gate.config import ConfigError, find_config, load_config


def write(tmp_path, text):
    path = tmp_path / ".pullgate.yaml"
    path.write_text(text)
    return path


def test_config_sets_platforms_and_insecure_registries(tmp_path):
    config = load_config(
        write(tmp_path, "platforms: [linux/amd64]\ninsecure-registries: ['127.0.0.1:5000']\n")
    )
    assert config.platforms == ["linux/amd64"]
    assert config.insecure_registries == ["127.0.0.1:5000"]


def test_unknown_key_is_an_error_with_its_line(tmp_path):
    with pytest.raises(ConfigError, match=r"\.pullgate\.yaml:2: unknown key 'platfroms'"):
        load_config(write(tmp_path, "concurrency: 4\nplatfroms: [linux/amd64]\n"))


def test_wrong_type_is_an_error_with_its_line(tmp_path):
    with pytest.raises(ConfigError, match=r":1: concurrency must be an integer from 1 to 256"):
        load_config(write(tmp_path, "concurrency: many\n"))


def test_invalid_yaml_is_an_error_with_its_line(tmp_path):
    with pytest.raises(ConfigError, match=r":2: invalid YAML"):
        load_config(write(tmp_path, "timeout: 3\n\tplatforms: x\n"))


def test_config_in_working_directory_is_found(tmp_path):
    path = write(tmp_path, "timeout: 3\n")
    assert find_config(None, tmp_path) == path


def test_no_config_gives_defaults(tmp_path):
    assert find_config(None, tmp_path) is None
    assert load_config(None).platforms == []


# ---- values that must be refused with the file and line (issue 10 item 7, issue 11 item 7) ----


@pytest.mark.parametrize(
    "text, line, words",
    [
        ("timeout: .nan\n", 1, "timeout must be a number of seconds"),
        ("concurrency: 4\ndeadline: .inf\n", 2, "deadline must be a number of seconds"),
        ("deadline: 1e400\n", 1, "deadline must be a number of seconds"),
        ("timeout: 0\n", 1, "timeout must be"),
        ("platforms:\n  - linux/amd64\n  - linux\n", 3, "invalid platform 'linux'"),
        ("platforms: [linux/arm/v²]\n", 1, "invalid platform"),
        ('ignore:\n  - cause: mutable-tag\n    reason: "bad \\ud800"\n', 3, "lone surrogate"),
        ('platforms: ["linux/amd64\\e[31m"]\n', 1, "control character"),
    ],
)
def test_bad_value_is_an_error_with_its_line(tmp_path, text, line, words):
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    message = str(caught.value)
    assert f".pullgate.yaml:{line}: " in message and words in message
    assert "\n" not in message


def test_config_nested_five_thousand_levels_is_an_error_not_a_recursion(tmp_path):
    text = "ignore: " + "[" * 5000 + "]" * 5000 + "\n"
    with pytest.raises(ConfigError, match=r"\.pullgate\.yaml:1: nesting deeper than"):
        load_config(write(tmp_path, text))


def test_config_nested_six_hundred_block_levels_is_an_error(tmp_path):
    text = "".join(f"{'  ' * i}k{i}:\n" for i in range(600))
    with pytest.raises(ConfigError, match=r"\.pullgate\.yaml:\d+: nesting deeper than"):
        load_config(write(tmp_path, text))


def test_nul_byte_in_config_is_an_error_with_its_line(tmp_path):
    path = tmp_path / ".pullgate.yaml"
    path.write_bytes(b"timeout: 3\nplatforms: [linux/amd64]\x00\n")
    with pytest.raises(ConfigError, match=r"\.pullgate\.yaml:2: binary data \(NUL byte\)"):
        load_config(path)


def test_non_utf8_config_is_an_error_with_its_line(tmp_path):
    path = tmp_path / ".pullgate.yaml"
    path.write_bytes(b"timeout: 3\n\n# caf\xe9\n")
    with pytest.raises(ConfigError, match=r"\.pullgate\.yaml:3: not UTF-8 text"):
        load_config(path)


def test_config_that_is_a_device_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"/dev/zero: a device, not a file"):
        load_config(Path("/dev/zero"))


@pytest.mark.parametrize(
    "key, flag", [("ca-file", "--ca-file"), ("docker-config", "--docker-config")]
)
def test_trust_and_credential_settings_are_refused_in_the_file(tmp_path, key, flag):
    with pytest.raises(ConfigError, match=rf":2: {key} is taken only from {flag}"):
        load_config(write(tmp_path, f"timeout: 3\n{key}: x\n"))


def test_config_may_name_only_loopback_registries_insecure(tmp_path):
    assert load_config(write(tmp_path, "insecure-registries: ['[::1]:5000', localhost]\n"))
    with pytest.raises(ConfigError, match=r":1: insecure-registries must be a list of loopback"):
        load_config(write(tmp_path, "insecure-registries: ['registry.corp:5000']\n"))
