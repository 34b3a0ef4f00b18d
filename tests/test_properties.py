"""Properties of the manifest walker and the CLI on generated input (hypothesis). The reference
parser's own properties are in test_reference.py.

- Any text: a Bundle or a one-line InputError naming the file, nothing else.
- Any YAML PyYAML writes: the objects pullgate reads are what PyYAML reads back.
- Any containers list: one image use per item, string images as written, on their own line.
- Line numbers move with the text; splitting a stream over files changes nothing but the file.
- The CLI on any stdin: exit 0, 1 or 2, never an exception, at most one line on stderr.
"""

from __future__ import annotations

import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gate.cli import main
from gate.manifests import CONTAINER_TYPES, InputError, read_bundle, read_text

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Characters that make YAML (and JSON) interesting to a parser.
YAML_ALPHABET = "{}[]:,-?&*!|>'\"#%@`\\ \t\n\r\x85\ufeffabckindPod0123456789.<"

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=20),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=25,
)


def read_or_error(text: str) -> object:
    """read_text's answer, or its InputError; any other exception fails the property."""
    try:
        return read_text(text, "input.yaml")
    except InputError as exc:
        message = str(exc)
        assert "\n" not in message
        assert message.startswith("input.yaml")
        return exc


@SETTINGS
@given(st.one_of(st.text(), st.text(YAML_ALPHABET, max_size=200)))
def test_any_text_is_a_bundle_or_a_one_line_input_error(text):
    read_or_error(text)


@SETTINGS
@given(st.lists(st.tuples(st.text(max_size=10), values), min_size=1, max_size=3), st.booleans())
def test_objects_read_are_what_pyyaml_reads(fields, flow):
    documents = [
        {"kind": kind or "Thing", "apiVersion": "v1", "x": value} for kind, value in fields
    ]
    text = yaml.safe_dump_all(documents, default_flow_style=flow, allow_unicode=True)
    bundle = read_text(text, "input.yaml")
    expected = [doc for doc in yaml.safe_load_all(text) if doc["kind"]]
    assert [obj.body for obj in bundle.objects] == expected
    assert [obj.kind for obj in bundle.objects] == [doc["kind"] for doc in expected]


container_items = st.one_of(
    st.builds(
        lambda name, image: {"name": name, "image": image},
        st.text("abcdef", min_size=1, max_size=6),
        st.from_regex(r"[a-z0-9.]{1,12}(/[a-z0-9]{1,8}){0,2}(:[a-z0-9.]{1,8})?", fullmatch=True),
    ),
    st.builds(lambda image: {"name": "odd", "image": image}, scalars),
    st.just({"name": "no-image"}),
    scalars,
    st.lists(scalars, max_size=2),
)


@SETTINGS
@given(
    st.dictionaries(st.sampled_from(CONTAINER_TYPES), st.lists(container_items, max_size=4)),
    st.sampled_from(["Pod", "Deployment", "CronJob"]),
    st.booleans(),
)
def test_every_container_item_is_one_use_with_its_image_on_its_line(lists, kind, flow):
    if kind == "Pod":
        body = {"apiVersion": "v1", "kind": kind, "metadata": {"name": "p"}, "spec": lists}
    elif kind == "Deployment":
        spec = {"template": {"spec": lists}}
        body = {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": "d"}, "spec": spec}
    else:
        spec = {"jobTemplate": {"spec": {"template": {"spec": lists}}}}
        body = {"apiVersion": "batch/v1", "kind": kind, "metadata": {"name": "c"}, "spec": spec}
    text = yaml.safe_dump(body, default_flow_style=flow, width=1000)
    bundle = read_text(text, "input.yaml")
    has_list = any(lists.get(t) for t in ("containers", "initContainers"))
    if kind != "Pod" and not has_list:
        return  # a workload without a container list has no pod template
    items = [(t, item) for t in CONTAINER_TYPES for item in lists.get(t, [])]
    uses = bundle.uses
    assert [(u.container_type) for u in uses] == [t for t, _ in items]
    lines = text.splitlines()
    for use, (_, item) in zip(uses, items, strict=True):
        assert 1 <= use.line <= len(lines)
        image = item.get("image") if isinstance(item, dict) else None
        if isinstance(image, str) and image:
            assert use.image == image
            assert use.problem is None
            if not flow:  # the value starts on the use's line, as YAML wrote it
                written = yaml.safe_dump(image, width=1000).splitlines()[0]
                assert written in lines[use.line - 1]
        else:
            assert use.problem is not None


POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  containers:
    - name: app
      image: {image}
"""


@SETTINGS
@given(
    st.lists(st.sampled_from(["", "# comment", "   ", "#"]), max_size=6),
    st.from_regex(r"[a-z]{1,8}\.example\.com/[a-z]{1,8}:[0-9]{1,3}", fullmatch=True),
)
def test_lines_move_with_the_text_above(prefix, image):
    base = read_text(POD.format(name="p", image=image), "a.yaml").uses[0].line
    moved = read_text("\n".join([*prefix, ""]) + POD.format(name="p", image=image), "a.yaml")
    assert moved.uses[0].line == base + len(prefix)


@SETTINGS
@given(st.lists(st.integers(min_value=0, max_value=999), min_size=2, max_size=6))
def test_splitting_a_stream_over_files_changes_only_the_file(tmp_path_factory, tags):
    directory = tmp_path_factory.mktemp("split")
    docs = [
        POD.format(name=f"p{i}", image=f"registry.example.com/app:{tag}")
        for i, tag in enumerate(tags)
    ]
    whole = directory / "all.yaml"
    whole.write_text("---\n".join(docs))
    parts = []
    for i, doc in enumerate(docs):
        part = directory / f"part{i}.yaml"
        part.write_text(doc)
        parts.append(str(part))
    one = read_bundle([str(whole)]).uses
    many = read_bundle(parts).uses
    assert [(u.image, u.name, u.container) for u in one] == [
        (u.image, u.name, u.container) for u in many
    ]
    assert [u.line for u in many] == [8] * len(docs)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.text(YAML_ALPHABET, max_size=300),
        st.builds(lambda v: yaml.safe_dump({"kind": "Pod", "spec": v}), values),
        st.binary(max_size=200),
    )
)
def test_cli_on_any_stdin_exits_0_1_or_2_with_at_most_one_line_on_stderr(data):
    result = CliRunner().invoke(main, ["check", "--offline", "--format", "json", "-"], input=data)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert result.exit_code in (0, 1, 2)
    assert len(result.stderr.splitlines()) <= 1
    if result.exit_code == 2:
        assert result.stderr.startswith("pullgate: ")
    else:
        assert result.stderr == ""
        assert result.stdout.startswith("{")  # the JSON report
