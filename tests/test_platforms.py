import pytest

from gate.platforms import (
    FixedTargets,
    Platform,
    PlatformError,
    fallback,
    missing,
    parse_platform,
    satisfies,
)


def p(text: str) -> Platform:
    return parse_platform(text)


def test_parse_os_arch_variant_and_windows_version():
    assert p("linux/arm/v7") == Platform("linux", "arm", "v7")
    assert p("windows/amd64:10.0.20348") == Platform("windows", "amd64", "", "10.0.20348")


@pytest.mark.parametrize("bad", ["linux", "linux/", "/amd64", "a/b/c/d", ""])
def test_malformed_platform_is_an_error(bad):
    with pytest.raises(PlatformError):
        parse_platform(bad)


def test_same_os_and_arch_satisfies():
    assert satisfies(p("linux/amd64"), p("linux/amd64"))


def test_other_arch_does_not_satisfy():
    assert not satisfies(p("linux/amd64"), p("linux/arm64"))


def test_arm64_image_without_variant_runs_on_arm64_v8_node():
    assert satisfies(p("linux/arm64"), p("linux/arm64/v8"))
    assert satisfies(p("linux/arm64/v8"), p("linux/arm64"))


def test_arm_v6_image_runs_on_v7_node_but_not_the_reverse():
    assert satisfies(p("linux/arm/v6"), p("linux/arm/v7"))
    assert not satisfies(p("linux/arm/v7"), p("linux/arm/v6"))


def test_architecture_aliases_normalise():
    assert satisfies(Platform("linux", "x86_64"), p("linux/amd64"))
    assert satisfies(Platform("linux", "aarch64"), p("linux/arm64"))


def test_windows_build_must_match_when_both_known():
    assert satisfies(p("windows/amd64:10.0.20348.2113"), p("windows/amd64:10.0.20348"))
    assert not satisfies(p("windows/amd64:10.0.17763.1"), p("windows/amd64:10.0.20348"))


def test_missing_ignores_attestation_platforms():
    have = [p("linux/amd64"), Platform("unknown", "unknown")]
    assert missing(have, [p("linux/amd64"), p("linux/arm64")]) == [p("linux/arm64")]


def test_fixed_targets_apply_to_every_pod():
    targets = FixedTargets([p("linux/amd64")]).targets_for({"containers": []})
    assert targets.platforms == [p("linux/amd64")]


def test_an_amd64_v3_node_runs_a_v2_build_but_a_v2_node_not_a_v3_build():
    v2, v3 = Platform("linux", "amd64", "v2"), Platform("linux", "amd64", "v3")
    assert missing([v2], [v3]) == []
    assert missing([v3], [v2]) == [v2]


def test_fallback_is_containerds_32_bit_build_for_the_node():
    assert fallback([Platform("linux", "386")], Platform("linux", "amd64")) == Platform(
        "linux", "386"
    )
    assert fallback([Platform("linux", "arm", "v6")], Platform("linux", "arm64")) == Platform(
        "linux", "arm", "v6"
    )
    assert fallback([Platform("windows", "386")], Platform("linux", "amd64")) is None
    assert fallback([Platform("linux", "amd64")], Platform("linux", "arm64")) is None
