"""`pullgate pin`: tags become name:tag@digest in place, formatting kept (real registry)."""

import codecs

import pytest
from click.testing import CliRunner

from gate.cli import main

MANIFEST = """\
# the shop, pinned by pullgate pin
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web   # web tier
  namespace: shop
spec:
  template:
    spec:
      initContainers:
        - name: migrate
          image: "{host}/shop/migrate:2.0"   # quoted, comment kept
      containers:
        - name: web
          image: {host}/shop/web:1.4 # plain
        - {{name: side, image: '{host}/shop/side'}}
"""


def pin(*args):
    return CliRunner().invoke(main, ["pin", *args])


class Shop:
    """The manifest file and the digests the registry fixture pushed (computed from its bytes)."""

    def __init__(self, path, digests):
        self.path, self.digests = path, digests

    def read_text(self):
        return self.path.read_text()


@pytest.fixture
def shop(registry, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    digests = {
        "migrate": registry.push_image("shop/migrate", "2.0"),
        "web": registry.push_index("shop/web", "1.4", ["linux/amd64", "linux/arm64"]),
        "side": registry.push_image("shop/side", "latest"),
    }
    path = tmp_path / "app.yaml"
    path.write_text(MANIFEST.format(host=registry.host))
    return Shop(path, digests)


def test_pin_prints_a_diff_and_leaves_the_file_alone(registry, shop):
    before = shop.read_text()
    result = pin(shop.path.name, "--insecure-registry", registry.host)
    assert result.exit_code == 0, result.stderr
    assert shop.read_text() == before
    migrate = shop.digests["migrate"]
    assert f'-          image: "{registry.host}/shop/migrate:2.0"   # quoted, comment kept' in (
        result.stdout
    )
    assert (
        f'+          image: "{registry.host}/shop/migrate:2.0@{migrate}"   # quoted, comment kept'
        in (result.stdout)
    )
    assert result.stdout.startswith("--- a/app.yaml\n+++ b/app.yaml\n")


def test_write_pins_in_place_keeping_quotes_and_comments(registry, shop):
    result = pin(str(shop.path), "--write", "--insecure-registry", registry.host)
    assert result.exit_code == 0, result.stderr
    web = shop.digests["web"]
    side = shop.digests["side"]
    expected = (
        MANIFEST.format(host=registry.host)
        .replace("shop/migrate:2.0", f"shop/migrate:2.0@{shop.digests['migrate']}")
        .replace("shop/web:1.4", f"shop/web:1.4@{web}")
        .replace("shop/side'", f"shop/side:latest@{side}'")
    )
    assert shop.read_text() == expected


def test_a_multi_arch_tag_is_pinned_to_its_index(registry, shop):
    pin(str(shop.path), "--write", "--insecure-registry", registry.host)
    index = shop.digests["web"]
    assert f"shop/web:1.4@{index}" in shop.read_text()


def test_pinning_twice_changes_nothing(registry, shop):
    pin(str(shop.path), "--write", "--insecure-registry", registry.host)
    once = shop.read_text()
    result = pin(str(shop.path), "--insecure-registry", registry.host)
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "nothing to pin: 3 already pinned" in result.stderr
    assert "diff above" not in result.stderr
    assert shop.read_text() == once


def test_an_image_that_does_not_resolve_is_refused_and_left_alone(registry, shop):
    text = shop.read_text().replace("shop/web:1.4", "shop/web:9.9")
    shop.path.write_text(text)
    result = pin(str(shop.path), "--write", "--insecure-registry", registry.host)
    assert result.exit_code == 1
    assert f"{registry.host}/shop/web:9.9: not pinned: does not resolve (tag-not-found" in (
        result.stderr
    )
    after = shop.read_text()
    assert f"{registry.host}/shop/web:9.9 # plain" in after
    assert "shop/migrate:2.0@sha256:" in after


def test_windows_line_endings_are_kept(registry, shop):
    shop.path.write_bytes(shop.read_text().replace("\n", "\r\n").encode())
    pin(str(shop.path), "--write", "--insecure-registry", registry.host)
    data = shop.path.read_bytes()
    assert data.count(b"\r\n") == data.count(b"\n")
    assert b"shop/web:1.4@sha256:" in data


@pytest.mark.parametrize(
    "bom, codec",
    [
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
        (codecs.BOM_UTF8, "utf-8"),
    ],
)
def test_a_file_is_written_back_in_its_own_encoding_with_its_byte_order_mark(
    registry, shop, bom, codec
):
    original = shop.read_text()
    shop.path.write_bytes(bom + original.encode(codec))
    result = pin(str(shop.path), "--write", "--insecure-registry", registry.host)
    assert result.exit_code == 0, result.output
    data = shop.path.read_bytes()
    assert data.startswith(bom)
    text = data[len(bom) :].decode(codec)
    assert f"shop/web:1.4@{shop.digests['web']}" in text
    assert text.replace(f"@{shop.digests['web']}", "").count("\n") == original.count("\n")


def test_stdin_prints_the_pinned_text_to_stdout(registry, shop):
    text = shop.read_text()
    result = CliRunner().invoke(
        main, ["pin", "-", "--insecure-registry", registry.host], input=text
    )
    assert result.exit_code == 0, result.stderr
    assert f"shop/migrate:2.0@{shop.digests['migrate']}" in result.stdout
    assert f"shop/web:1.4@{shop.digests['web']}" in result.stdout
    assert result.stdout.startswith("# the shop, pinned by pullgate pin\n")
    assert shop.read_text() == text


def test_stdin_with_write_is_a_usage_error():
    result = pin("-", "--write")
    assert result.exit_code == 2
    assert "--write needs files" in result.stderr


def test_write_through_a_symlink_edits_its_target_and_keeps_the_link(registry, shop):
    link = shop.path.parent / "link.yaml"
    link.symlink_to(shop.path.name)
    result = pin(str(link), "--write", "--insecure-registry", registry.host)
    assert result.exit_code == 0, result.stderr
    assert link.is_symlink()
    assert f"shop/web:1.4@{shop.digests['web']}" in shop.read_text()
