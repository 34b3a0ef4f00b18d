import base64
import json
import os
import stat

import pytest

from gate.registry.credentials import CredentialError, DockerConfig


def config(tmp_path, data):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    return DockerConfig.load(path)


def b64(text):
    return base64.b64encode(text.encode()).decode()


def test_auth_entry_decodes_user_and_password(tmp_path):
    cfg = config(tmp_path, {"auths": {"ghcr.io": {"auth": b64("me:pw")}}})
    [cred] = cfg.lookup("ghcr.io/org/app", "ghcr.io")
    assert (cred.username, cred.password) == ("me", "pw")


def test_docker_hub_entry_under_index_v1_applies_to_hub_images(tmp_path):
    cfg = config(tmp_path, {"auths": {"https://index.docker.io/v1/": {"auth": b64("u:p")}}})
    assert cfg.lookup("docker.io/library/nginx", "docker.io")


def test_identity_token_entry(tmp_path):
    cfg = config(
        tmp_path,
        {
            "auths": {
                "myacr.azurecr.io": {
                    "auth": b64("00000000-0000-0000-0000-000000000000:"),
                    "identitytoken": "refresh",
                }
            }
        },
    )
    [cred] = cfg.lookup("myacr.azurecr.io/app", "myacr.azurecr.io")
    assert cred.identity_token == "refresh"


def test_secret_values_never_appear_in_repr(tmp_path):
    cfg = config(tmp_path, {"auths": {"ghcr.io": {"auth": b64("me:topsecret")}}})
    [cred] = cfg.lookup("ghcr.io/org/app", "ghcr.io")
    assert "topsecret" not in repr(cred)


def test_missing_default_config_has_no_credentials(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    assert DockerConfig.load(None).lookup("ghcr.io/a", "ghcr.io") == []


def test_missing_named_config_is_an_error(tmp_path):
    with pytest.raises(CredentialError, match=r"none\.json: no such file or directory"):
        DockerConfig.load(tmp_path / "none.json")


@pytest.mark.parametrize("name", ["x/../../run-me", "../bin/sh", "a\\b", "..", "-rf", "x y"])
@pytest.mark.parametrize("key", ["credsStore", "credHelpers"])
def test_helper_names_docker_would_refuse_are_refused_and_never_run(tmp_path, key, name):
    ran = tmp_path / "ran"
    program = tmp_path / "docker-credential-x"
    program.write_text(f"#!/bin/sh\ntouch {ran}\n")
    program.chmod(0o755)
    value = {"ghcr.io": name} if key == "credHelpers" else name
    path = tmp_path / "config.json"
    path.write_text(json.dumps({key: value}))
    with pytest.raises(CredentialError, match="not a credential helper name"):
        DockerConfig.load(path).lookup("ghcr.io/a", "ghcr.io")
    assert not ran.exists()


def test_credential_helper_is_asked_for_its_host(tmp_path, monkeypatch):
    helper = tmp_path / "docker-credential-fake"
    helper.write_text(
        "#!/bin/sh\nread server\n"
        'echo "{\\"ServerURL\\":\\"$server\\",\\"Username\\":\\"u\\",'
        '\\"Secret\\":\\"s-$server\\"}"\n'
    )
    helper.chmod(helper.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    cfg = config(tmp_path, {"credHelpers": {"ghcr.io": "fake"}})
    [cred] = cfg.lookup("ghcr.io/org/app", "ghcr.io")
    assert (cred.username, cred.password) == ("u", "s-ghcr.io")


def test_creds_store_covers_hosts_without_entries(tmp_path, monkeypatch):
    helper = tmp_path / "docker-credential-store"
    helper.write_text('#!/bin/sh\necho \'{"Username":"<token>","Secret":"idtok"}\'\n')
    helper.chmod(helper.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    cfg = config(tmp_path, {"credsStore": "store"})
    [cred] = cfg.lookup("quay.io/org/app", "quay.io")
    assert cred.identity_token == "idtok"
