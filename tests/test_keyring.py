"""The kubelet's credential matching (pkg/credentialprovider/keyring.go), as specification."""

import pytest

from gate.registry.keyring import Keyring, key_matches, normalize_key


@pytest.mark.parametrize(
    ("key", "normalized"),
    [
        ("https://index.docker.io/v1/", "index.docker.io"),
        ("index.docker.io", "index.docker.io"),
        ("http://myreg.example.com:5000/v2/", "myreg.example.com:5000"),
        ("ghcr.io/org", "ghcr.io/org"),
        ("https://ghcr.io/v2/org/team", "ghcr.io/org/team"),
    ],
)
def test_keys_lose_scheme_and_v1_v2_prefix(key, normalized):
    assert normalize_key(key) == normalized


def test_glob_label_matches_one_host_label():
    assert key_matches("*.azurecr.io", "myacr.azurecr.io/app")


def test_glob_does_not_match_fewer_labels():
    assert not key_matches("*.azurecr.io", "azurecr.io/app")


def test_glob_does_not_match_more_labels():
    assert not key_matches("*.azurecr.io", "a.b.azurecr.io/app")


def test_port_must_be_equal():
    assert not key_matches("registry.local", "registry.local:5000/app")
    assert key_matches("registry.local:5000", "registry.local:5000/app")


def test_key_path_must_prefix_image_path():
    assert key_matches("ghcr.io/org", "ghcr.io/org/app")
    assert not key_matches("ghcr.io/other", "ghcr.io/org/app")


def test_lookup_returns_every_match_most_specific_first():
    ring = Keyring([("ghcr.io", "host"), ("ghcr.io/org", "org"), ("quay.io", "other")])
    assert [e.value for e in ring.lookup("ghcr.io/org/app")] == ["org", "host"]


def test_docker_hub_image_falls_back_to_index_docker_io():
    ring = Keyring([("https://index.docker.io/v1/", "hub")])
    assert [e.value for e in ring.lookup("docker.io/library/nginx")] == ["hub"]


def test_docker_io_key_matches_docker_hub_image_directly():
    ring = Keyring([("docker.io", "hub")])
    assert [e.value for e in ring.lookup("docker.io/library/nginx")] == ["hub"]


def test_non_hub_image_does_not_fall_back_to_docker_hub_credentials():
    ring = Keyring([("https://index.docker.io/v1/", "hub")])
    assert ring.lookup("ghcr.io/org/app") == []


def test_credential_for_other_host_does_not_match():
    ring = Keyring([("myacr.azurecr.io", "acr")])
    assert ring.lookup("otheracr.azurecr.io/app") == []
