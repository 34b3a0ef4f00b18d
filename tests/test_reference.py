"""Image references parse and normalize as the kubelet's distribution/reference does.

The tables marked "ported from" are distribution's own test vectors
(github.com/distribution/reference v0.6.0, the version Kubernetes vendors; go-digest v1.0.0),
run through `parse_reference` (= ParseNormalizedNamed plus the default tag), so a name without a
domain is expected normalized onto docker.io.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gate.reference import ImageRef, ReferenceError, parse_reference

HEX64 = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
SHA256 = "sha256:" + HEX64
SHA512 = "sha512:" + "f" * 128
DBCC = "dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c"
E669 = "sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582"

FORMAT = "invalid reference format"
LOWER = "repository name must be lowercase"
TOO_LONG = "name too long"
DIGEST = "invalid digest"
TAG = "invalid tag"
HEX_ID = "invalid repository name"


def short(value: object) -> str | None:
    """Test ids: long inputs shortened, so a failure report stays readable."""
    if isinstance(value, str) and len(value) > 60:
        return f"{value[:30]}...{value[-12:]}({len(value)})"
    return None


def reason(text: str) -> str:
    with pytest.raises(ReferenceError) as caught:
        parse_reference(text)
    return str(caught.value)


# Ported from reference_test.go TestReferenceParse: input -> normalized str(), or the reason.
REFERENCE_PARSE = [
    ("test_com", "docker.io/library/test_com:latest"),
    ("test.com:tag", "docker.io/library/test.com:tag"),
    ("test.com:5000", "docker.io/library/test.com:5000"),
    ("test.com/repo:tag", "test.com/repo:tag"),
    ("test:5000/repo", "test:5000/repo:latest"),
    ("test:5000/repo:tag", "test:5000/repo:tag"),
    (f"test:5000/repo@{SHA256}", f"test:5000/repo@{SHA256}"),
    (f"test:5000/repo:tag@{SHA256}", f"test:5000/repo:tag@{SHA256}"),
    ("lowercase:Uppercase", "docker.io/library/lowercase:Uppercase"),
    (
        "a/" * 127 + "a:tag-puts-this-over-max",
        "docker.io/" + "a/" * 127 + "a:tag-puts-this-over-max",
    ),
    ("sub-dom1.foo.com/bar/baz/quux", "sub-dom1.foo.com/bar/baz/quux:latest"),
    ("sub-dom1.foo.com/bar/baz/quux:some-long-tag", "sub-dom1.foo.com/bar/baz/quux:some-long-tag"),
    ("b.gcr.io/test.example.com/my-app:test.example.com", None),
    ("xn--n3h.com/myimage:xn--n3h.com", None),
    (f"xn--7o8h.com/myimage:xn--7o8h.com@{SHA512}", None),
    ("foo_bar.com:8080", "docker.io/library/foo_bar.com:8080"),
    ("foo/foo_bar.com:8080", "docker.io/foo/foo_bar.com:8080"),
    ("192.168.1.1", "docker.io/library/192.168.1.1:latest"),
    ("192.168.1.1:tag", "docker.io/library/192.168.1.1:tag"),
    ("192.168.1.1:5000", "docker.io/library/192.168.1.1:5000"),
    ("192.168.1.1/repo", "192.168.1.1/repo:latest"),
    ("192.168.1.1:5000/repo", "192.168.1.1:5000/repo:latest"),
    ("192.168.1.1:5000/repo:5050", None),
    ("[2001:db8::1]/repo", "[2001:db8::1]/repo:latest"),
    ("[2001:db8:1:2:3:4:5:6]/repo:tag", None),
    ("[2001:db8::1]:5000/repo", "[2001:db8::1]:5000/repo:latest"),
    ("[2001:db8::1]:5000/repo:tag", None),
    (f"[2001:db8::1]:5000/repo@{SHA256}", None),
    (f"[2001:db8::1]:5000/repo:tag@{SHA256}", None),
    ("[2001:db8::]:5000/repo", "[2001:db8::]:5000/repo:latest"),
    ("[::1]:5000/repo", "[::1]:5000/repo:latest"),
    ("example.com/" + "a" * 255 + ":tag", None),
]
REFERENCE_PARSE_ERRORS = [
    ("", FORMAT),
    (":justtag", FORMAT),
    (f"@{SHA256}", FORMAT),
    ("repo@sha256:" + "f" * 34, DIGEST),
    (f"validname@invaliddigest:{HEX64}", DIGEST),
    ("Uppercase:tag", LOWER),
    ("test:5000/Uppercase/lowercase:tag", LOWER),
    ("domain/" + "a" * 256 + ":tag", TOO_LONG),
    ("aa/asdf$$^/aa", FORMAT),
    ("[2001:db8::1]", FORMAT),
    ("[2001:db8::1]:5000", FORMAT),
    ("[2001:db8::1]:tag", FORMAT),
    ("[fe80::1%eth0]:5000/repo", FORMAT),
    ("[fe80::1%@invalidzone]:5000/repo", FORMAT),
]


@pytest.mark.parametrize(("text", "normalized"), REFERENCE_PARSE, ids=short)
def test_distribution_reference_parse_vectors_are_accepted(text: str, normalized: str | None):
    assert str(parse_reference(text)) == (normalized or text)


@pytest.mark.parametrize(("text", "expected"), REFERENCE_PARSE_ERRORS, ids=short)
def test_distribution_reference_parse_vectors_are_rejected_for_their_reason(
    text: str, expected: str
):
    assert reason(text).startswith(expected)


# Ported from normalize_test.go TestValidateReferenceName and TestValidateRemoteName.
VALID_NAMES = [
    "docker/docker",
    "library/debian",
    "debian",
    "docker.io/docker/docker",
    "docker.io/library/debian",
    "docker.io/debian",
    "index.docker.io/docker/docker",
    "index.docker.io/library/debian",
    "index.docker.io/debian",
    "127.0.0.1:5000/docker/docker",
    "127.0.0.1:5000/library/debian",
    "127.0.0.1:5000/debian",
    "192.168.0.1",
    "192.168.0.1:80",
    "192.168.0.1:8/debian",
    "192.168.0.2:25000/debian",
    "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
    "[fc00::1]:5000/docker",
    "[fc00::1]:5000/docker/docker",
    "[fc00:1:2:3:4:5:6:7]:5000/library/debian",
    "docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
    "Docker/docker",
    "DOCKER/docker",
    "docker-rules/docker",
    "docker---rules/docker",
    "doc/docker",
    "d/docker",
    "jess/t",
    "dock__er/docker",
]
INVALID_NAMES = [
    "https://github.com/docker/docker",
    "docker/Docker",
    "-docker",
    "-docker/docker",
    "-docker.io/docker/docker",
    "docker///docker",
    "docker.io/docker/Docker",
    "docker.io/docker///docker",
    "[fc00::1]",
    "[fc00::1]:5000",
    "fc00::1:5000/debian",
    "[fe80::1%eth0]:5000/debian",
    "[2001:db8:3:4::192.0.2.33]:5000/debian",
    "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
    "docker-/docker",
    "-docker-/docker",
    "____/____",
    "_docker/_docker",
    "dock..er/docker",
    "dock_.er/docker",
    "dock-.er/docker",
    "docker/",
    "this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_" * 4 + "/docker",
]


@pytest.mark.parametrize("text", VALID_NAMES, ids=short)
def test_distribution_valid_repository_names_are_accepted(text: str):
    assert isinstance(parse_reference(text), ImageRef)


@pytest.mark.parametrize("text", INVALID_NAMES, ids=short)
def test_distribution_invalid_repository_names_are_rejected(text: str):
    with pytest.raises(ReferenceError):
        parse_reference(text)


# Ported from normalize_test.go TestParseRepositoryInfo:
# (remote name, familiar name, full name, ambiguous name, domain).
REPOSITORY_INFO = [
    ("fooo/bar", "fooo/bar", "docker.io/fooo/bar", "index.docker.io/fooo/bar", "docker.io"),
    ("library/ubuntu", "ubuntu", "docker.io/library/ubuntu", "library/ubuntu", "docker.io"),
    ("nonlibrary/ubuntu", "nonlibrary/ubuntu", "docker.io/nonlibrary/ubuntu", "", "docker.io"),
    ("other/library", "other/library", "docker.io/other/library", "", "docker.io"),
    ("private/moonbase", "127.0.0.1:8000/private/moonbase", "", "", "127.0.0.1:8000"),
    ("privatebase", "127.0.0.1:8000/privatebase", "", "", "127.0.0.1:8000"),
    ("private/moonbase", "example.com/private/moonbase", "", "", "example.com"),
    ("privatebase", "example.com/privatebase", "", "", "example.com"),
    ("private/moonbase", "example.com:8000/private/moonbase", "", "", "example.com:8000"),
    ("privatebasee", "example.com:8000/privatebasee", "", "", "example.com:8000"),
    (
        "library/ubuntu-12.04-base",
        "ubuntu-12.04-base",
        "docker.io/library/ubuntu-12.04-base",
        "index.docker.io/library/ubuntu-12.04-base",
        "docker.io",
    ),
    ("library/foo", "foo", "docker.io/library/foo", "docker.io/foo", "docker.io"),
    ("library/foo/bar", "library/foo/bar", "docker.io/library/foo/bar", "", "docker.io"),
    ("store/foo/bar", "store/foo/bar", "docker.io/store/foo/bar", "", "docker.io"),
    ("bar", "Foo/bar", "", "", "Foo"),
    ("bar", "FOO/bar", "", "", "FOO"),
]
REPOSITORY_INFO_CASES = [
    pytest.param(text, path, familiar, full or familiar, domain, id=text)
    for path, familiar, full, ambiguous, domain in REPOSITORY_INFO
    for text in dict.fromkeys(s for s in (familiar, full or familiar, ambiguous) if s)
]


@pytest.mark.parametrize(
    ("text", "path", "familiar", "full", "domain"), REPOSITORY_INFO_CASES, ids=short
)
def test_distribution_repository_info_splits_domain_path_and_familiar_name(
    text: str, path: str, familiar: str, full: str, domain: str
):
    ref = parse_reference(text)
    assert (ref.domain, ref.path, ref.name) == (domain, path, full)
    assert ref.familiar == familiar + ":latest"


# Ported from normalize_test.go TestNormalizedSplitHostname.
SPLIT_HOSTNAME = [
    ("test.com/foo", "test.com", "foo"),
    ("test_com/foo", "docker.io", "test_com/foo"),
    ("docker/migrator", "docker.io", "docker/migrator"),
    ("test.com:8080/foo", "test.com:8080", "foo"),
    ("test-com:8080/foo", "test-com:8080", "foo"),
    ("foo", "docker.io", "library/foo"),
    ("xn--n3h.com/foo", "xn--n3h.com", "foo"),
    ("xn--n3h.com:18080/foo", "xn--n3h.com:18080", "foo"),
    ("docker.io/foo", "docker.io", "library/foo"),
    ("docker.io/library/foo", "docker.io", "library/foo"),
    ("docker.io/library/foo/bar", "docker.io", "library/foo/bar"),
]


@pytest.mark.parametrize(("text", "domain", "path"), SPLIT_HOSTNAME, ids=short)
def test_distribution_normalized_split_hostname(text: str, domain: str, path: str):
    ref = parse_reference(text)
    assert (ref.domain, ref.path) == (domain, path)


# Ported from normalize_test.go TestParseAnyReference (the named cases: bare identifiers and
# bare digests are ParseAnyReference's own, ParseNormalizedNamed does not take them as such)
# and TestParseDockerRef. ParseDockerRef drops the tag when a digest is present; pullgate keeps
# both, as ParseNormalizedNamed (what the kubelet calls) does.
NORMALIZED = [
    ("redis", "docker.io/library/redis:latest"),
    ("redis:latest", "docker.io/library/redis:latest"),
    ("docker.io/library/redis:latest", "docker.io/library/redis:latest"),
    (f"redis@sha256:{DBCC}", f"docker.io/library/redis@sha256:{DBCC}"),
    (f"docker.io/library/redis@sha256:{DBCC}", f"docker.io/library/redis@sha256:{DBCC}"),
    ("dmcgowan/myapp", "docker.io/dmcgowan/myapp:latest"),
    ("dmcgowan/myapp:latest", "docker.io/dmcgowan/myapp:latest"),
    ("docker.io/mcgowan/myapp:latest", "docker.io/mcgowan/myapp:latest"),
    (f"dmcgowan/myapp@sha256:{DBCC}", f"docker.io/dmcgowan/myapp@sha256:{DBCC}"),
    (f"docker.io/dmcgowan/myapp@sha256:{DBCC}", f"docker.io/dmcgowan/myapp@sha256:{DBCC}"),
    (DBCC[:-1], f"docker.io/library/{DBCC[:-1]}:latest"),
    ("dbcc1", "docker.io/library/dbcc1:latest"),
    ("busybox", "docker.io/library/busybox:latest"),
    ("busybox:latest", "docker.io/library/busybox:latest"),
    (f"busybox@{E669}", f"docker.io/library/busybox@{E669}"),
    ("library/busybox", "docker.io/library/busybox:latest"),
    ("docker.io/busybox", "docker.io/library/busybox:latest"),
    ("docker.io/library/busybox", "docker.io/library/busybox:latest"),
    ("docker.io/busybox:latest", "docker.io/library/busybox:latest"),
    ("library/busybox:latest", "docker.io/library/busybox:latest"),
    ("gcr.io/library/busybox", "gcr.io/library/busybox:latest"),
    (f"gcr.io/library/busybox:latest@{E669}", f"gcr.io/library/busybox:latest@{E669}"),
]


@pytest.mark.parametrize(("text", "normalized"), NORMALIZED, ids=short)
def test_distribution_normalization_vectors(text: str, normalized: str):
    assert str(parse_reference(text)) == normalized


# Ported from regexp_test.go TestFullNameRegexp, TestReferenceRegexp and TestDomainRegexp
# (domains as `<domain>/repo`). Left out: "foo_bar.com:8080", no name but a valid name:tag.
GRAMMAR_ACCEPTS = [
    "short",
    "simple/name",
    "docker/stevvooe/app",
    "aa/aa/aa/aa/aa/aa/aa/aa/aa/bb/bb/bb/bb/bb/bb",
    "a/a/a/a",
    "a/aa/a",
    "foo.com",
    "foo.com:8080/bar",
    "localhost:8080/bar",
    "blog.foo.com/bar/baz",
    "aa-a/a",
    "foo_bar",
    "foo_bar.com",
    "foo.com/foo_bar",
    "example.com/xn--7o8h.com/myimage",
    "example.com/some_separator__underscore/myimage",
    "do__cker/docker",
    "registry.io/foo/project--id.module--name.ver---sion--name",
    "Asdf.com/foo/bar",
    "registry.com:8080/myapp:tag",
    f"registry.com:8080/myapp:tag2@{SHA256}",
    f"localhost:8080/name@{SHA256}",
    "test.com:10304/repo",
    "ab.c-om/repo",
    "0101.com/repo",
    "b.gbc.io:443/repo",
    "192.168.1.1:75050/repo",
    "192.168.1.1:750050/repo",
    "[fd00:1:2::3]:75050/repo",
    "[fd00123123123]:75050/repo",
    "[2001:0db8:85a3:0000:0000:8a2e:0370:7334]:750505/repo",
]
GRAMMAR_REFUSES = [
    "a/a/a/a/",
    "a//a/a",
    "foo.com/",
    "foo.com:http/bar",
    "a^a",
    "asdf$$^/aa",
    "a-/a/a/a",
    "foo.com/a-/a/a",
    "foo/bar-",
    "foo/-bar",
    "_foo/bar",
    "foo_bar.com:8080/app",
    "docker_/docker_",
    "example.com/__underscore/myimage",
    "example.com/..dots/myimage",
    "example.com/.dots/myimage",
    "example.com/nodouble..dots/myimage",
    "docker./docker",
    ".docker/docker",
    "do..cker/docker",
    "do__cker:8080/docker",
    "Foo/FarB",
    "registry.com:8080/myapp@sha256:badbadbadbad",
    "registry.com:8080/myapp:invalid~tag",
    "bad_hostname.com:8080/myapp:tag",
    f"localhost:http/name@{SHA256}",
    "registry.com:8080/myapp@bad",
    "registry.com:8080/myapp@2bad",
    "test.com:http/repo",
    "-ab.com/repo",
    "ab-.com/repo",
    "ab.-com/repo",
    "ab.com-/repo",
    "[fd00:1:2::3]75050/repo",
    "[fd00:1:2::3]::75050/repo",
    "[fd00:1:2::3%eth0]:75050/repo",
    "fd00:1:2::3:75050/repo",
]


@pytest.mark.parametrize("text", GRAMMAR_ACCEPTS, ids=short)
def test_distribution_grammar_accepts(text: str):
    assert isinstance(parse_reference(text), ImageRef)


@pytest.mark.parametrize("text", GRAMMAR_REFUSES, ids=short)
def test_distribution_grammar_refuses(text: str):
    with pytest.raises(ReferenceError):
        parse_reference(text)


# Behaviours, one each.


def test_single_name_on_docker_hub_gets_library_prefix():
    ref = parse_reference("nginx:1.27")
    assert (ref.domain, ref.path, ref.tag) == ("docker.io", "library/nginx", "1.27")


def test_docker_hub_user_repository_keeps_its_namespace():
    assert parse_reference("bitnami/redis:7.2").path == "bitnami/redis"


def test_index_docker_io_is_normalized_to_docker_io():
    assert parse_reference("index.docker.io/nginx").name == "docker.io/library/nginx"


def test_latest_is_filled_in_when_neither_tag_nor_digest_is_given():
    ref = parse_reference("ghcr.io/org/app")
    assert (ref.tag, ref.digest, ref.reference) == ("latest", None, "latest")


def test_digest_only_reference_has_no_tag_and_asks_for_the_digest():
    ref = parse_reference(f"ghcr.io/org/app@{SHA256}")
    assert (ref.tag, ref.digest, ref.reference) == (None, SHA256, SHA256)


def test_tag_and_digest_together_keep_both_and_ask_for_the_digest():
    ref = parse_reference(f"ghcr.io/org/app:1.0@{SHA256}")
    assert (ref.tag, ref.digest, ref.reference) == ("1.0", SHA256, SHA256)
    assert str(ref) == f"ghcr.io/org/app:1.0@{SHA256}"


def test_localhost_is_a_domain_even_without_dot_or_port():
    assert parse_reference("localhost/app").domain == "localhost"


@pytest.mark.parametrize(
    ("text", "domain"),
    [("myacr.azurecr.io/app", "myacr.azurecr.io"), ("registry:5000/app", "registry:5000")],
)
def test_first_component_with_dot_or_port_is_a_domain(text: str, domain: str):
    assert parse_reference(text).domain == domain


def test_first_component_without_dot_port_or_localhost_is_a_docker_hub_namespace():
    ref = parse_reference("registry/app")
    assert (ref.domain, ref.path) == ("docker.io", "registry/app")


def test_host_and_port_without_a_path_is_an_image_on_docker_hub_with_the_port_as_tag():
    ref = parse_reference("localhost:5000")
    assert (ref.name, ref.tag) == ("docker.io/library/localhost", "5000")


def test_uppercase_first_component_is_taken_as_a_domain():
    assert parse_reference("MyRegistry/app").domain == "MyRegistry"


@pytest.mark.parametrize(
    "text", ["ghcr.io/Org/app", "Nginx", "docker.io/library/NGINX:1"], ids=short
)
def test_uppercase_in_the_repository_path_is_rejected(text: str):
    assert reason(text) == LOWER


def test_uppercase_in_the_tag_is_allowed():
    assert parse_reference("nginx:RC1").tag == "RC1"


def test_ipv6_host_with_port_is_a_domain():
    ref = parse_reference("[::1]:5000/app:v1")
    assert (ref.domain, ref.path, ref.tag) == ("[::1]:5000", "app", "v1")


def test_ipv4_host_with_port_is_a_domain():
    assert parse_reference("127.0.0.1:5000/app").domain == "127.0.0.1:5000"


@pytest.mark.parametrize(
    "text", [" nginx", "nginx ", "nginx\n", "\tnginx", "nginx:1.0\r\n"], ids=short
)
def test_leading_or_trailing_whitespace_is_rejected_not_stripped(text: str):
    assert "whitespace" in reason(text)


def test_empty_string_is_rejected():
    assert reason("").startswith(FORMAT)


@pytest.mark.parametrize(
    "text", ["{{ .Values.image }}", "ghcr.io/org/app:{{ .Chart.AppVersion }}", "{{image}}"]
)
def test_unrendered_helm_template_is_rejected(text: str):
    assert reason(text) == "Helm template left unrendered"


def test_64_hex_characters_alone_are_reserved_for_image_ids():
    assert reason(DBCC).startswith(HEX_ID)


def test_64_hex_characters_with_a_domain_are_a_valid_repository():
    assert parse_reference(f"docker.io/{DBCC}").path == f"library/{DBCC}"


def test_bare_digest_parses_as_an_image_named_after_the_algorithm():
    # ParseNormalizedNamed reads "sha256:<hex>" as image "sha256" with tag "<hex>".
    ref = parse_reference(f"sha256:{DBCC}")
    assert (ref.path, ref.tag) == ("library/sha256", DBCC)


def test_repository_path_longer_than_255_characters_is_rejected():
    assert reason("ghcr.io/" + "a" * 256).startswith(TOO_LONG)


def test_domain_does_not_count_toward_the_255_character_limit():
    ref = parse_reference("my-registry.example.com:5000/" + "a" * 255)
    assert len(ref.path) == 255


def test_library_prefix_counts_toward_the_255_character_limit():
    assert reason("a" * 248).startswith(TOO_LONG)  # library/ + 248 = 256


def test_tag_of_128_characters_is_accepted_and_129_rejected():
    assert parse_reference("app:" + "t" * 128).tag == "t" * 128
    assert reason("app:" + "t" * 129).startswith(TAG)


@pytest.mark.parametrize(
    "text", ["app:", "app:-rc", "app:.hidden", "app:v1+build", "app:v1é"], ids=short
)
def test_malformed_tag_is_rejected_as_invalid_tag(text: str):
    assert reason(text).startswith(TAG)


@pytest.mark.parametrize(
    "digest",
    [
        "sha256:" + "a" * 63,
        "sha256:" + "a" * 65,
        "sha256:" + "A" * 64,
        "sha512:" + "a" * 64,
        "sha384:" + "a" * 64,
        "sha256:" + "g" * 64,
        "sha256",
    ],
)
def test_malformed_digest_is_rejected_as_invalid_digest(digest: str):
    assert reason(f"app@{digest}").startswith(DIGEST)


@pytest.mark.parametrize("digest", [SHA256, SHA512, "sha384:" + "0" * 96], ids=short)
def test_sha256_sha384_and_sha512_digests_are_accepted(digest: str):
    assert parse_reference(f"app@{digest}").digest == digest


def test_unknown_digest_algorithm_is_rejected_as_unsupported():
    assert "unsupported" in reason("app@md5:" + "a" * 32)


def test_url_scheme_is_rejected_with_a_hint():
    assert "scheme" in reason("https://ghcr.io/org/app")


@pytest.mark.parametrize(
    "text", ["ngïnx", "ghcr.io/org/äpp", "app:v１", "app@sha256:" + "٠" * 64], ids=short
)
def test_non_ascii_characters_are_rejected(text: str):
    with pytest.raises(ReferenceError):
        parse_reference(text)


def test_first_component_that_is_a_path_but_not_a_host_is_still_the_registry():
    # distribution accepts "foo_bar.com/app" (domain ""); the runtime then dials "foo_bar.com".
    ref = parse_reference("foo_bar.com/app")
    assert (ref.domain, ref.path, str(ref)) == ("foo_bar.com", "app", "foo_bar.com/app:latest")


def test_name_is_domain_and_path():
    assert parse_reference("ghcr.io/org/app:1").name == "ghcr.io/org/app"


@pytest.mark.parametrize(
    ("text", "familiar"),
    [
        ("docker.io/library/nginx:1.27", "nginx:1.27"),
        (f"user/app@{SHA256}", f"user/app@{SHA256}"),
        ("docker.io/library/foo/bar", "library/foo/bar:latest"),
        ("ghcr.io/org/app:1", "ghcr.io/org/app:1"),
        (f"busybox:latest@{E669}", f"busybox:latest@{E669}"),
    ],
)
def test_familiar_form_drops_docker_io_and_the_library_namespace(text: str, familiar: str):
    assert parse_reference(text).familiar == familiar


def test_is_docker_hub_only_for_docker_io():
    assert parse_reference("nginx").is_docker_hub
    assert not parse_reference("ghcr.io/org/app").is_docker_hub


def test_with_digest_keeps_the_tag_and_sets_the_digest():
    pinned = parse_reference("nginx:1.27").with_digest(SHA256)
    assert (pinned.tag, pinned.digest, str(pinned)) == (
        "1.27",
        SHA256,
        f"docker.io/library/nginx:1.27@{SHA256}",
    )


@pytest.mark.parametrize("digest", ["foo", "sha256:abc", "sha256:" + "A" * 64, ""], ids=short)
def test_with_digest_rejects_a_digest_the_kubelet_would_refuse(digest: str):
    with pytest.raises(ReferenceError):
        parse_reference("nginx").with_digest(digest)


def test_equivalent_spellings_give_equal_and_hashable_refs():
    spellings = {parse_reference(t) for t in ("nginx", "docker.io/nginx", "index.docker.io/nginx")}
    assert spellings == {parse_reference("docker.io/library/nginx:latest")}


def test_reference_error_is_a_value_error_carrying_the_text():
    with pytest.raises(ValueError) as caught:
        parse_reference("Nginx")
    assert caught.value.text == "Nginx"


def test_non_string_input_raises_reference_error():
    with pytest.raises(ReferenceError):
        parse_reference(None)  # type: ignore[arg-type]


def test_ten_thousand_references_parse_in_well_under_a_second():
    texts = [f"registry{i % 50}.example.com:5000/team/app-{i}:v{i}" for i in range(5000)]
    texts += [f"app{i}@sha256:{i:064x}" for i in range(5000)]
    start = time.perf_counter()
    for text in texts:
        parse_reference(text)
    assert time.perf_counter() - start < 1.0


PATHOLOGICAL = {
    "long-name": "a" * 100_000,
    "many-dots-in-domain": "a." * 50_000 + "/b",
    "hyphen-runs": "a-" * 50_000,
    "trailing-slash-components": "a/" * 50_000,
    "underscores-then-upper": "a_" * 50_000 + "A",
    "unclosed-ipv6": "[" + ":" * 100_000 + "/a",
    "long-tag": "a:" + "b" * 100_000,
    "long-digest": "a@sha256:" + "f" * 100_000,
    "dotted-domain-no-path": "a.b-" * 25_000 + "@",
}


@pytest.mark.parametrize("text", PATHOLOGICAL.values(), ids=PATHOLOGICAL.keys())
def test_pathological_input_is_refused_quickly(text: str):
    start = time.perf_counter()
    with pytest.raises(ReferenceError):
        parse_reference(text)
    assert time.perf_counter() - start < 0.5


# Properties.

_ALNUM = st.text("abcxyz0189", min_size=1, max_size=8)
_SEP = st.sampled_from([".", "_", "__", "-", "--", "---"])
_COMPONENT = st.builds(
    lambda first, rest: first + "".join(sep + part for sep, part in rest),
    _ALNUM,
    st.lists(st.tuples(_SEP, _ALNUM), max_size=2),
)
_LABEL = st.builds(
    lambda a, mid, b: a + (mid + b if b else ""),
    st.sampled_from("aZ09"),
    st.text("aZ09-", max_size=6),
    st.text("aZ09", max_size=1),
)
_PORT = st.integers(0, 99999).map(lambda p: f":{p}")
_DOMAIN = st.one_of(
    st.just(""),
    st.sampled_from(["docker.io", "index.docker.io", "localhost", "ghcr.io", "[::1]"]),
    st.builds(lambda a, b, port: f"{a}.{b}{port}", _LABEL, _LABEL, st.one_of(st.just(""), _PORT)),
    st.builds(lambda label, port: label + port, _LABEL, _PORT),
    st.builds(
        lambda parts, port: ".".join(map(str, parts)) + port,
        st.lists(st.integers(0, 255), min_size=4, max_size=4),
        st.one_of(st.just(""), _PORT),
    ),
)
_TAG = st.one_of(
    st.none(),
    st.builds(str.__add__, st.sampled_from("aZ09_"), st.text("aZ09_.-", max_size=20)),
)
_DIGEST = st.one_of(
    st.none(),
    st.text("0123456789abcdef", min_size=64, max_size=64).map(lambda h: f"sha256:{h}"),
)


@st.composite
def valid_references(draw: st.DrawFn) -> tuple[str, str | None, str | None]:
    domain = draw(_DOMAIN)
    path = "/".join(draw(st.lists(_COMPONENT, min_size=1, max_size=4)))
    tag, digest = draw(_TAG), draw(_DIGEST)
    text = (f"{domain}/" if domain else "") + path
    text += (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
    assume(not (len(text) == 64 and set(text) <= set("0123456789abcdef")))  # an image ID
    return text, tag, digest


def _familiar_is_ambiguous(ref: ImageRef) -> bool:
    """Docker's familiar form of docker.io/a.b/c is a.b/c, which reads back as host a.b."""
    first = ref.path.split("/")[0]
    return ref.is_docker_hub and ("." in first or first == "localhost") and "/" in ref.path


@given(valid_references())
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
def test_valid_references_round_trip_through_their_normalized_form(case):
    text, tag, digest = case
    ref = parse_reference(text)
    assert (ref.digest, ref.tag) == (digest, tag or (None if digest else "latest"))
    assert parse_reference(str(ref)) == ref
    if not _familiar_is_ambiguous(ref):
        assert parse_reference(ref.familiar) == ref


_REFERENCE_ALPHABET = "abAZ09:/@._-[]%{} \n" + "é"


@given(st.one_of(st.text(), st.text(_REFERENCE_ALPHABET, max_size=60)))
@settings(max_examples=1000)
def test_any_text_parses_or_raises_reference_error(text: str):
    try:
        ref = parse_reference(text)
    except ReferenceError as exc:
        assert str(exc)
    else:
        assert isinstance(ref, ImageRef)
        assert parse_reference(str(ref)) == ref
