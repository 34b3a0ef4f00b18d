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
    with pytest.raises(ConfigError, match=r":1: concurrency must be a positive integer"):
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
