"""gate.manifests: files -> Kubernetes objects -> pod templates -> image uses, with lines."""

from __future__ import annotations

import io
import os
import re
import textwrap
from pathlib import Path

import pytest
import yaml

from gate import manifests
from gate.manifests import (
    MAX_DEPTH,
    Bundle,
    ImageUse,
    InputError,
    collect_files,
    read_bundle,
    read_text,
)

DATA = Path(__file__).resolve().parent / "data" / "manifests"
# /work/main/tests/.. -> /work/shared/corpus/manifests (in CI: a clone with ../shared beside it)
CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "manifests"


def uses_of(text: str, file: str = "m.yaml") -> list[ImageUse]:
    return read_text(text, file).uses


def one_use(text: str) -> ImageUse:
    uses = uses_of(text)
    assert len(uses) == 1, uses
    return uses[0]


def line_of(text: str, needle: str) -> int:
    """1-based line of the only line holding `needle`."""
    found = [n for n, line in enumerate(text.splitlines(), 1) if needle in line]
    assert len(found) == 1, (needle, found)
    return found[0]


def input_error(text: str, file: str = "bad.yaml") -> InputError:
    with pytest.raises(InputError) as caught:
        read_text(text, file)
    return caught.value


POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
    - name: web
      image: nginx:1.27
"""


def pod_with(containers: str) -> str:
    """A Pod whose `containers:` value is `containers` (YAML text, indented under the key)."""
    return f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:{containers}\n"


# --- kinds and paths -----------------------------------------------------------------------


def test_pod_images_come_from_spec():
    bundle = read_text(POD, "pod.yaml")
    [template] = bundle.templates
    assert template.path == "spec"
    assert [(u.kind, u.name, u.container, u.image) for u in template.uses] == [
        ("Pod", "web", "web", "nginx:1.27")
    ]


def test_every_workload_kind_is_read():
    bundle = read_bundle([str(DATA / "everything.yaml")])
    images = {(u.kind, u.image) for u in bundle.uses}
    assert images == {
        ("Pod", "example.com/pod-init:1"),
        ("Pod", "example.com/pod:1"),
        ("Pod", "example.com/pod-debug:1"),
        ("PodTemplate", "example.com/podtemplate:1"),
        ("Deployment", "example.com/deployment:1"),
        ("ReplicaSet", "example.com/replicaset:1"),
        ("StatefulSet", "example.com/statefulset:1"),
        ("DaemonSet", "example.com/daemonset:1"),
        ("Job", "example.com/job:1"),
        ("CronJob", "example.com/cronjob:1"),
        ("ReplicationController", "example.com/replicationcontroller:1"),
        ("Rollout", "example.com/rollout:1"),
        ("Service", "example.com/knative:1"),
    }


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("Pod", "spec"),
        ("PodTemplate", "template.spec"),
        ("Deployment", "spec.template.spec"),
        ("StatefulSet", "spec.template.spec"),
        ("DaemonSet", "spec.template.spec"),
        ("Job", "spec.template.spec"),
        ("ReplicationController", "spec.template.spec"),
        ("Rollout", "spec.template.spec"),
        ("CronJob", "spec.jobTemplate.spec.template.spec"),
    ],
)
def test_template_path_names_where_the_pod_spec_is(kind, path):
    bundle = read_bundle([str(DATA / "everything.yaml")])
    assert {t.path for t in bundle.templates if t.owner.kind == kind} == {path}


def test_pod_template_kind_images_come_from_template_spec():
    text = "apiVersion: v1\nkind: PodTemplate\ntemplate:\n  spec:\n    containers: [{image: a}]\n"
    assert [u.image for u in uses_of(text)] == ["a"]


def test_cronjob_images_come_from_job_template():
    text = (DATA / "everything.yaml").read_text()
    [use] = [u for u in uses_of(text) if u.kind == "CronJob"]
    assert use.image == "example.com/cronjob:1"
    assert use.line == line_of(text, "example.com/cronjob:1")


def test_custom_resource_with_a_pod_template_is_read():
    text = """\
apiVersion: example.com/v1
kind: Whatever
metadata: {name: w}
spec:
  template:
    spec:
      initContainers: [{name: only-init, image: "busybox:1"}]
"""
    [use] = uses_of(text)
    assert (use.kind, use.container_type, use.image) == ("Whatever", "initContainers", "busybox:1")


def test_custom_resource_without_container_list_has_no_template():
    text = "apiVersion: x/v1\nkind: Thing\nspec:\n  template:\n    spec:\n      image: nginx\n"
    bundle = read_text(text, "m.yaml")
    assert (len(bundle.objects), bundle.templates) == (1, [])


def test_pod_kind_does_not_read_spec_template():
    text = (
        "apiVersion: v1\nkind: Pod\nspec:\n  template:\n    spec:\n      containers: [{image: a}]\n"
    )
    [template] = read_text(text, "m.yaml").templates
    assert (template.path, template.uses) == ("spec", [])


def test_containers_come_init_then_app_then_ephemeral():
    text = """\
apiVersion: v1
kind: Pod
spec:
  ephemeralContainers: [{name: e, image: e}]
  containers: [{name: c1, image: c1}, {name: c2, image: c2}]
  initContainers: [{name: i, image: i}]
"""
    assert [(u.container_type, u.container) for u in uses_of(text)] == [
        ("initContainers", "i"),
        ("containers", "c1"),
        ("containers", "c2"),
        ("ephemeralContainers", "e"),
    ]


def test_sidecar_init_containers_are_init_containers():
    text = """\
apiVersion: apps/v1
kind: Deployment
spec:
  template:
    spec:
      initContainers:
        - name: proxy
          image: envoyproxy/envoy:v1.31.0
          restartPolicy: Always
      containers:
        - name: app
          image: app:1
"""
    assert [(u.container, u.container_type) for u in uses_of(text)] == [
        ("proxy", "initContainers"),
        ("app", "containers"),
    ]


def test_pod_template_spec_is_the_pod_spec():
    text = """\
apiVersion: apps/v1
kind: Deployment
spec:
  template:
    spec:
      serviceAccountName: builder
      imagePullSecrets: [{name: regcred}]
      nodeSelector: {kubernetes.io/arch: arm64}
      containers: [{name: app, image: app:1}]
"""
    [template] = read_text(text, "m.yaml").templates
    assert template.spec["serviceAccountName"] == "builder"
    assert template.spec["imagePullSecrets"] == [{"name": "regcred"}]
    assert template.spec["nodeSelector"] == {"kubernetes.io/arch": "arm64"}
    assert template.spec is template.owner.body["spec"]["template"]["spec"]


def test_bundle_uses_are_the_templates_uses_in_order():
    bundle = read_bundle([str(DATA / "everything.yaml")])
    assert bundle.uses == [use for template in bundle.templates for use in template.uses]


# --- fields of an image use ----------------------------------------------------------------


def test_use_names_its_owner_container_and_file():
    text = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  template:
    spec:
      containers:
        - name: app
          image: app:1
          imagePullPolicy: Always
"""
    assert one_use(text) == ImageUse(
        image="app:1",
        kind="Deployment",
        namespace="shop",
        name="web",
        container="app",
        container_type="containers",
        pull_policy="Always",
        file="m.yaml",
        line=11,
        problem=None,
    )


def test_absent_namespace_is_none():
    assert one_use(POD).namespace is None


def test_empty_namespace_is_none():
    text = POD.replace("  name: web\n", "  name: web\n  namespace: ''\n")
    assert read_text(text, "m.yaml").objects[0].namespace is None


def test_absent_names_are_empty():
    use = one_use("apiVersion: v1\nkind: Pod\nspec:\n  containers: [{image: a}]\n")
    assert (use.name, use.container) == ("", "")


def test_absent_pull_policy_is_none():
    assert one_use(POD).pull_policy is None


def test_pull_policy_is_kept_as_written():
    text = POD + "      imagePullPolicy: Never\n"
    assert one_use(text).pull_policy == "Never"


def test_image_is_kept_as_written():
    text = pod_with(' [{image: "  Registry.Example.com/A:1 "}]')
    assert one_use(text).image == "  Registry.Example.com/A:1 "


def test_explicitly_tagged_string_image_is_a_string():
    assert one_use(pod_with(" [{image: !!str 123}]")).image == "123"


# --- line numbers --------------------------------------------------------------------------


def test_line_is_the_image_value_line():
    assert one_use(POD).line == line_of(POD, "image: nginx:1.27")


def test_line_is_the_value_line_when_the_value_is_on_the_next_line():
    text = pod_with("\n    - name: web\n      image:\n        nginx:1.27")
    assert one_use(text).line == line_of(text, "        nginx:1.27")


def test_line_of_flow_style_containers():
    text = pod_with("\n    - {name: a, image: a:1}\n    - {name: b,\n       image: b:1}")
    assert [u.line for u in uses_of(text)] == [line_of(text, "a:1"), line_of(text, "b:1")]


def test_line_is_the_container_line_when_the_image_is_absent():
    text = pod_with("\n    - name: a\n      image: a:1\n    - name: no-image\n      command: [x]")
    assert uses_of(text)[1].line == line_of(text, "name: no-image")


def test_lines_count_every_document():
    text = "---\n# comment\n" + POD + "---\n\n---\n" + POD.replace("nginx:1.27", "redis:7")
    assert [u.line for u in uses_of(text)] == [
        line_of(text, "nginx:1.27"),
        line_of(text, "redis:7"),
    ]


def test_object_line_is_the_first_line_of_its_content():
    text = "# header\n---\n# about the pod\n" + POD
    assert read_text(text, "m.yaml").objects[0].line == line_of(text, "apiVersion")


def test_windows_line_endings_keep_line_numbers():
    text = POD.replace("\n", "\r\n")
    assert one_use(text).line == 8


# --- documents and lists -------------------------------------------------------------------


def test_empty_comment_only_and_ended_documents_are_skipped():
    text = "# only a comment\n---\n---\n# another\n---\n" + POD + "...\n---\n...\n"
    bundle = read_text(text, "m.yaml")
    assert [o.kind for o in bundle.objects] == ["Pod"]
    assert len(bundle.uses) == 1


def test_empty_file_has_no_objects():
    assert read_text("", "m.yaml") == Bundle(objects=[], templates=[], files=["m.yaml"])


@pytest.mark.parametrize(
    "document",
    [
        "just a string",
        "42",
        "- a\n- b\n",
        "image: nginx\ncontainers: [{image: nginx}]\n",  # Helm values: no kind
        "apiVersion: v1\nspec: {containers: [{image: nginx}]}\n",  # no kind
        "kind: ''\nspec: {containers: [{image: nginx}]}\n",
        "kind: [Pod]\nspec: {containers: [{image: nginx}]}\n",
    ],
)
def test_documents_that_are_not_objects_are_skipped(document):
    assert read_text(document, "m.yaml").objects == []


def test_object_without_api_version_is_kept_with_empty_api_version():
    [obj] = read_text("kind: Pod\nspec: {containers: [{image: a}]}\n", "m.yaml").objects
    assert (obj.api_version, obj.kind) == ("", "Pod")


def test_objects_include_kinds_without_images():
    text = "apiVersion: v1\nkind: Secret\nmetadata: {name: regcred, namespace: shop}\ntype: x\n"
    [obj] = read_text(text, "m.yaml").objects
    assert (obj.kind, obj.name, obj.namespace, obj.body["type"]) == (
        "Secret",
        "regcred",
        "shop",
        "x",
    )


def test_configmap_mentioning_images_yields_no_uses():
    text = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: c}
data:
  values.yaml: |
    image: nginx:1.27
  containers: "[{image: nginx}]"
"""
    assert uses_of(text) == []


def test_crd_schema_image_keys_are_not_images():
    text = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: engines.longhorn.io}
spec:
  versions:
    - name: v1beta2
      schema:
        openAPIV3Schema:
          properties:
            spec:
              properties:
                image:
                  type: string
                template:
                  properties:
                    spec:
                      properties:
                        containers:
                          items:
                            properties:
                              image: {type: string}
"""
    assert uses_of(text) == []


def test_list_items_are_the_objects():
    text = """\
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Pod
    metadata: {name: a}
    spec: {containers: [{image: a}]}
  - apiVersion: v1
    kind: Service
    metadata: {name: s}
"""
    bundle = read_text(text, "m.yaml")
    assert [(o.kind, o.name, o.line) for o in bundle.objects] == [
        ("Pod", "a", 4),
        ("Service", "s", 8),
    ]
    assert [u.image for u in bundle.uses] == ["a"]


def test_any_kind_ending_in_list_is_expanded():
    text = """\
apiVersion: apps/v1
kind: DeploymentList
items:
  - apiVersion: apps/v1
    kind: Deployment
    metadata: {name: d}
    spec: {template: {spec: {containers: [{image: d}]}}}
"""
    assert [(u.kind, u.name, u.image) for u in uses_of(text)] == [("Deployment", "d", "d")]


def test_list_without_items_is_an_object():
    [obj] = read_text("apiVersion: v1\nkind: List\nitems: null\n", "m.yaml").objects
    assert obj.kind == "List"


def test_json_file_is_read():
    bundle = read_bundle([str(DATA / "tree" / "a-pod.json")])
    [use] = bundle.uses
    assert (use.image, use.namespace, use.pull_policy, use.line) == (
        "busybox:1.36",
        "ops",
        "IfNotPresent",
        7,
    )


def test_json_indented_with_tabs_is_read():
    assert "\t" in (DATA / "tree" / "a-pod.json").read_text()
    assert [u.image for u in read_bundle([str(DATA / "tree" / "a-pod.json")]).uses] == [
        "busybox:1.36"
    ]


def test_json_top_level_array_is_a_list_of_objects():
    bundle = read_bundle([str(DATA / "list.json")])
    assert [(o.kind, o.name, o.line) for o in bundle.objects] == [
        ("Pod", "one", 2),
        ("ServiceAccount", "builder", 8),
        ("Pod", "two", 14),
    ]
    assert [(u.image, u.line) for u in bundle.uses] == [("nginx:1.27", 6), ("redis:7", 18)]


def test_minified_json_is_read():
    text = '{"apiVersion":"v1","kind":"Pod","spec":{"containers":[{"name":"a","image":"a:1"}]}}'
    assert [(u.image, u.line) for u in uses_of(text)] == [("a:1", 1)]


def test_body_is_plain_python():
    text = "apiVersion: v1\nkind: X\nspec: {n: 3, f: 1.5, b: true, z: null, s: '3', l: [1]}\n"
    [obj] = read_text(text, "m.yaml").objects
    assert type(obj.body) is dict
    spec = obj.body["spec"]
    assert spec == {"n": 3, "f": 1.5, "b": True, "z": None, "s": "3", "l": [1]}
    assert [type(v) for v in spec.values()] == [int, float, bool, type(None), str, list]


def test_timestamps_stay_strings():
    [obj] = read_text("kind: X\nwhen: 2024-01-02\nat: 2024-01-02T03:04:05Z\n", "m.yaml").objects
    assert (obj.body["when"], obj.body["at"]) == ("2024-01-02", "2024-01-02T03:04:05Z")


def test_duplicate_keys_last_one_wins():
    text = pod_with("\n    - name: a\n      image: first:1\n      image: second:1")
    use = one_use(text)
    assert (use.image, use.line) == ("second:1", line_of(text, "second:1"))


def test_merge_keys_are_expanded():
    text = """\
defaults: &defaults
  image: base:1
  imagePullPolicy: Always
apiVersion: v1
kind: Pod
spec:
  containers:
    - <<: *defaults
      name: a
    - <<: *defaults
      name: b
      image: own:1
"""
    uses = uses_of(text)
    assert [(u.container, u.image, u.pull_policy) for u in uses] == [
        ("a", "base:1", "Always"),
        ("b", "own:1", "Always"),
    ]
    assert [u.line for u in uses] == [line_of(text, "base:1"), line_of(text, "own:1")]


def test_merge_of_several_mappings_lets_the_first_win():
    text = pod_with("\n    - <<: [{image: first:1}, {image: second:1, name: n}]")
    use = one_use(text)
    assert (use.image, use.container) == ("first:1", "n")


def test_aliased_image_reports_the_anchor_line():
    text = "x: &img nginx:1.27\n" + pod_with("\n    - name: a\n      image: *img")
    use = one_use(text)
    assert (use.image, use.line) == ("nginx:1.27", 1)


def test_aliased_container_is_read_each_time():
    text = pod_with("\n    - &c {name: a, image: a:1}\n    - *c")
    assert [(u.container, u.image) for u in uses_of(text)] == [("a", "a:1"), ("a", "a:1")]


# --- wrong values inside objects: problems, never exceptions -------------------------------


@pytest.mark.parametrize(
    ("value", "image", "problem"),
    [
        ("123", "123", "image is not a string (int)"),
        ("1.5", "1.5", "image is not a string (float)"),
        ("true", "true", "image is not a string (bool)"),
        ("[a, b]", "[a, b]", "image is not a string (sequence)"),
        ("{a: b}", "{a: b}", "image is not a string (mapping)"),
    ],
)
def test_non_string_image_is_a_problem(value, image, problem):
    use = one_use(pod_with(f"\n    - name: a\n      image: {value}"))
    assert (use.image, use.problem, use.line) == (image, problem, 8)


def test_unquoted_helm_template_image_is_a_problem():
    use = one_use(pod_with("\n    - name: a\n      image: {{ .Values.image }}"))
    assert use.image == "{{ .Values.image }}"
    assert use.problem == "image is not a string (mapping); an unrendered template?"


def test_unquoted_helm_template_elsewhere_does_not_crash():
    text = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ .Release.Name }}\n" + (
        "spec:\n  containers: [{image: a}]\n"
    )
    bundle = read_text(text, "m.yaml")
    assert bundle.objects[0].name == ""
    assert bundle.objects[0].body["metadata"]["name"] == {"{ .Release.Name }": None}


def test_collection_used_as_a_key_becomes_its_text():
    [obj] = read_text("kind: X\n? [a, b]\n: 1\n", "m.yaml").objects
    assert obj.body["[a, b]"] == 1


def test_empty_image_is_a_problem():
    use = one_use(pod_with('\n    - name: a\n      image: ""'))
    assert (use.image, use.problem, use.line) == ("", "image is empty", 8)


def test_container_without_image_is_a_problem():
    use = one_use(pod_with("\n    - name: a"))
    assert (use.image, use.container, use.problem, use.line) == (
        "",
        "a",
        "container has no image",
        7,
    )


def test_null_image_is_no_image():
    use = one_use(pod_with("\n    - name: a\n      image:"))
    assert (use.image, use.problem, use.line) == ("", "container has no image", 8)


@pytest.mark.parametrize(
    ("item", "kind"), [("nginx:1.27", "string"), ("", "null"), ("[a]", "sequence"), ("3", "int")]
)
def test_container_that_is_not_a_mapping_is_a_problem(item, kind):
    text = pod_with(f"\n    - {{name: ok, image: ok:1}}\n    - {item}")
    use = uses_of(text)[1]
    assert (use.image, use.problem, use.line) == ("", f"container is not a mapping ({kind})", 8)


@pytest.mark.parametrize(
    "text",
    [
        "apiVersion: v1\nkind: Pod\nspec:\n  containers: null\n",
        "apiVersion: v1\nkind: Pod\nspec:\n  containers: {name: a, image: a}\n",
        "apiVersion: v1\nkind: Pod\nspec:\n  containers: nginx\n",
        "apiVersion: v1\nkind: Pod\nspec: []\n",
        "apiVersion: v1\nkind: Pod\nspec: nginx\n",
        "apiVersion: v1\nkind: Pod\nspec:\n",
        "apiVersion: v1\nkind: Pod\n",
        "apiVersion: v1\nkind: PodTemplate\ntemplate: [spec]\n",
        "apiVersion: apps/v1\nkind: Deployment\nspec: {template: null}\n",
        "apiVersion: apps/v1\nkind: Deployment\nspec: {template: {spec: {containers: 5}}}\n",
        "apiVersion: apps/v1\nkind: Deployment\nspec: {template: {spec: [containers]}}\n",
        "apiVersion: batch/v1\nkind: CronJob\nspec: {jobTemplate: {spec: 3}}\n",
        "apiVersion: v1\nkind: Pod\nmetadata: [name]\nspec: {containers: []}\n",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: 7, namespace: 8}\nspec: {}\n",
        "apiVersion: 1\nkind: Pod\nspec: {containers: [{name: [x], imagePullPolicy: 3}]}\n",
    ],
)
def test_wrong_types_do_not_crash(text):
    bundle = read_text(text, "m.yaml")
    assert all(use.problem for use in bundle.uses)


def test_scalar_names_become_text():
    text = "apiVersion: v1\nkind: Pod\nmetadata: {name: 7, namespace: 8}\nspec: {}\n"
    [obj] = read_text(text, "m.yaml").objects
    assert (obj.name, obj.namespace) == ("7", "8")


# --- hostile input: InputError with file and line -----------------------------------------


def billion_laughs(levels: int = 10) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for n in range(1, levels):
        lines.append(f"a{n}: &a{n} [" + ", ".join([f"*a{n - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_an_input_error():
    error = input_error(billion_laughs())
    assert error.file == "bad.yaml"
    assert error.line is not None
    assert "too many aliases" in error.message


def test_alias_bomb_inside_an_object_is_an_input_error():
    text = POD + "  extra:\n" + textwrap.indent(billion_laughs(), "    ")
    error = input_error(text)
    assert "too many aliases" in error.message


def test_merge_key_bomb_is_an_input_error():
    lines = ["m0: &m0 {x: 1}"]
    for n in range(1, 9):
        lines.append(f"m{n}: &m{n} {{<<: [" + ", ".join([f"*m{n - 1}"] * 10) + "]}")
    error = input_error("\n".join(lines) + "\n")
    assert "too many aliases" in error.message


def test_few_aliases_are_fine():
    [obj] = read_text("kind: X\na: &a [1, 2]\nb: *a\nc: *a\n", "m.yaml").objects
    assert obj.body["c"] == [1, 2]


def test_recursive_alias_is_an_input_error():
    error = input_error("kind: X\nspec:\n  a: &a [1, *a]\n")
    assert (error.line, error.message) == (3, "alias *a is inside its own anchor")


def test_undefined_alias_is_an_input_error():
    error = input_error("kind: X\nspec: *nowhere\n")
    assert (error.line, error.message) == (2, "undefined alias *nowhere")


def test_anchors_do_not_cross_documents():
    error = input_error("a: &a 1\n---\nb: *a\n")
    assert (error.line, error.message) == (3, "undefined alias *a")


def test_invalid_merge_is_an_input_error():
    error = input_error("kind: X\nspec:\n  <<: 5\n")
    assert (error.line, error.message) == (3, "a << merge needs a mapping or mappings")


@pytest.mark.parametrize("depth", [1000, 100_000])
def test_deep_flow_nesting_is_an_input_error(depth):
    error = input_error("kind: X\nspec: " + "[" * depth + "]" * depth + "\n")
    assert (error.line, error.message) == (2, f"nesting deeper than {MAX_DEPTH} levels")


def test_deep_block_nesting_is_an_input_error():
    text = "".join(" " * n + "a:\n" for n in range(MAX_DEPTH + 10))
    error = input_error(text)
    assert (error.line, error.message) == (MAX_DEPTH + 1, f"nesting deeper than {MAX_DEPTH} levels")


def test_unclosed_deep_nesting_is_an_input_error():
    assert "nesting deeper" in input_error("{a: " * 100_000).message


def test_nesting_below_the_limit_is_read():
    depth = MAX_DEPTH - 2
    [obj] = read_text("kind: X\nspec: " + "[" * depth + "1" + "]" * depth + "\n", "m.yaml").objects
    value = obj.body["spec"]
    for _ in range(depth - 1):
        value = value[0]
    assert value == [1]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            "apiVersion: v1\nkind: Pod\n  spec: x\n",
            3,
            "mapping values are not allowed in this context",
        ),
        ("kind: Pod\nspec: [a, b\n", 3, "did not find expected ',' or ']'"),
        ("kind: Pod\nspec:\n\tcontainers: []\n", 3, "found character that cannot start any token"),
        ('kind: Pod\nspec: "open\n', 3, "found unexpected end of stream"),
        ("a: b\x07\n", 1, "unacceptable character #x0007: control characters are not allowed"),
    ],
)
def test_syntax_error_names_file_line_and_problem(text, line, message):
    error = input_error(text, "deploy.yaml")
    assert (error.file, error.line) == ("deploy.yaml", line)
    assert error.message.startswith(message)
    assert str(error) == f"deploy.yaml:{line}: {error.message}"
    assert "\n" not in str(error)


def test_syntax_error_in_a_later_document_names_its_line():
    error = input_error(POD + "---\nkind: Pod\nspec: {\n")
    assert error.line == 12


def test_unquoted_template_in_a_scalar_is_a_syntax_error():
    text = pod_with("\n    - name: a\n      image: {{ .Values.repo }}:{{ .Values.tag }}")
    error = input_error(text)
    assert error.line == line_of(text, "{{ .Values.tag }}")
    assert error.message == "did not find expected key (while parsing a block mapping at line 7)"


def test_nul_byte_in_text_is_an_input_error():
    error = input_error("kind: Pod\n\x00\x01binary")
    assert (error.line, error.message) == (
        2,
        "binary data (NUL byte): not a YAML or JSON manifest",
    )


def test_binary_file_is_an_input_error(tmp_path):
    path = tmp_path / "image.yaml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(InputError) as caught:
        read_bundle([str(path)])
    assert (caught.value.file, caught.value.line) == (str(path), 3)


def test_non_utf8_file_is_an_input_error(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("kind: Pod\nmetadata: {name: caf\u00e9}\n".encode("latin-1"))
    with pytest.raises(InputError) as caught:
        read_bundle([str(path)])
    assert str(caught.value) == f"{path}:2: not UTF-8 text (byte 0xe9 at offset 30)"


def test_utf8_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + POD.encode())
    assert [u.image for u in read_bundle([str(path)]).uses] == ["nginx:1.27"]


def test_utf16_with_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "utf16.yaml"
    path.write_bytes(POD.encode("utf-16"))
    assert [(u.image, u.line) for u in read_bundle([str(path)]).uses] == [("nginx:1.27", 8)]


def test_input_error_without_line_is_file_and_message():
    assert str(InputError("x.yaml", None, "no such file or directory")) == (
        "x.yaml: no such file or directory"
    )


def test_input_error_message_is_one_line():
    error = InputError("x.yaml", 3, "two\nlines")
    assert (str(error), error.message) == ("x.yaml:3: two lines", "two lines")


def test_pure_python_parser_reads_the_same(monkeypatch):
    text = (DATA / "everything.yaml").read_text()
    expected = uses_of(text)
    monkeypatch.setattr(manifests, "_LOADER", yaml.SafeLoader)
    assert uses_of(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * 100_000, "nesting deeper than"),
        (billion_laughs(), "too many aliases"),
        ("kind: Pod\nspec: [a, b\n", "expected ',' or ']'"),
    ],
    ids=["deep", "alias-bomb", "syntax"],
)
def test_pure_python_parser_input_errors(monkeypatch, text, message):
    monkeypatch.setattr(manifests, "_LOADER", yaml.SafeLoader)
    assert message in input_error(text).message


# --- files, directories, stdin --------------------------------------------------------------


def test_stdin_is_named_dash():
    bundle = read_bundle(["-"], stdin=io.StringIO(POD))
    assert bundle.files == ["-"]
    assert [(u.file, u.line) for u in bundle.uses] == [("-", 8)]


def test_stdin_bytes_are_decoded_as_utf8():
    stdin = io.TextIOWrapper(io.BytesIO(POD.replace("web", "caf\u00e9").encode()), "latin-1")
    [use] = read_bundle(["-"], stdin=stdin).uses
    assert use.name == "caf\u00e9"


def test_stdin_syntax_error_names_dash():
    with pytest.raises(InputError) as caught:
        read_bundle(["-"], stdin=io.StringIO("a: [\n"))
    assert caught.value.file == "-"


def test_files_and_stdin_are_read_in_order(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text(POD.replace("nginx:1.27", "from-file:1"))
    bundle = read_bundle([str(path), "-"], stdin=io.StringIO(POD))
    assert bundle.files == [str(path), "-"]
    assert [u.image for u in bundle.uses] == ["from-file:1", "nginx:1.27"]


def test_file_is_kept_as_given(tmp_path, monkeypatch):
    (tmp_path / "pod.yaml").write_text(POD)
    monkeypatch.chdir(tmp_path)
    assert [u.file for u in read_bundle(["./pod.yaml"]).uses] == ["./pod.yaml"]


def test_file_of_any_suffix_is_read_when_named(tmp_path):
    path = tmp_path / "pod.txt"
    path.write_text(POD)
    assert len(read_bundle([str(path)]).uses) == 1


def test_directory_is_read_recursively_in_sorted_order():
    tree = DATA / "tree"
    assert collect_files([str(tree)]) == [
        str(tree / "a-pod.json"),
        str(tree / "apps" / "nested" / "worker.yml"),
        str(tree / "apps" / "web.yaml"),
    ]


def test_directory_images_come_from_every_manifest():
    bundle = read_bundle([str(DATA / "tree")])
    assert [u.image for u in bundle.uses] == [
        "busybox:1.36",
        "registry.example.com/shop/worker:2.0",
        "registry.example.com/shop/web:1.4",
    ]
    assert bundle.files == collect_files([str(DATA / "tree")])


def test_directory_symlink_loop_is_read_once(tmp_path):
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps" / "pod.yaml").write_text(POD)
    os.symlink("..", tmp_path / "apps" / "loop")
    os.symlink(tmp_path / "apps", tmp_path / "again")
    files = collect_files([str(tmp_path)])
    assert len(files) == 1 and files[0].endswith("pod.yaml")
    assert len(read_bundle([str(tmp_path)]).uses) == 1


def test_symlinked_file_within_the_directory_is_read(tmp_path):
    (tmp_path / "manifests" / "real").mkdir(parents=True)
    (tmp_path / "manifests" / "real" / "pod.txt").write_text(POD)
    os.symlink(tmp_path / "manifests" / "real" / "pod.txt", tmp_path / "manifests" / "pod.yaml")
    assert len(read_bundle([str(tmp_path / "manifests")]).uses) == 1


def test_symlinked_file_out_of_the_directory_is_not_read(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "pod.txt").write_text(POD)
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "own.yaml").write_text(POD)
    os.symlink(tmp_path / "real" / "pod.txt", tmp_path / "manifests" / "pod.yaml")
    assert read_bundle([str(tmp_path / "manifests")]).files == [
        str(tmp_path / "manifests" / "own.yaml")
    ]


def test_symlinked_directory_out_of_the_directory_is_not_walked(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "pod.yaml").write_text(POD)
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "own.yaml").write_text(POD)
    os.symlink(tmp_path / "elsewhere", tmp_path / "manifests" / "linked")
    assert collect_files([str(tmp_path / "manifests")]) == [
        str(tmp_path / "manifests" / "own.yaml")
    ]


def test_a_file_named_on_the_command_line_is_read_through_its_link(tmp_path):
    (tmp_path / "pod.txt").write_text(POD)
    os.symlink(tmp_path / "pod.txt", tmp_path / "link.yaml")
    assert len(read_bundle([str(tmp_path / "link.yaml")]).uses) == 1


def test_dash_is_kept_by_collect_files():
    assert collect_files(["-"]) == ["-"]


def test_path_given_twice_is_read_once():
    path = str(DATA / "tree" / "a-pod.json")
    assert collect_files([path, path]) == [path]


def test_missing_path_is_an_input_error(tmp_path):
    missing = str(tmp_path / "nope.yaml")
    with pytest.raises(InputError) as caught:
        collect_files([missing])
    assert str(caught.value) == f"{missing}: no such file or directory"


def test_broken_symlink_is_an_input_error(tmp_path):
    os.symlink(tmp_path / "gone.yaml", tmp_path / "link.yaml")
    with pytest.raises(InputError, match="broken symbolic link"):
        collect_files([str(tmp_path)])


def test_symlink_loop_given_as_a_file_is_an_input_error(tmp_path):
    os.symlink(tmp_path / "self.yaml", tmp_path / "self.yaml")
    with pytest.raises(InputError) as caught:
        collect_files([str(tmp_path / "self.yaml")])
    assert caught.value.file == str(tmp_path / "self.yaml")


def test_directory_without_manifests_is_an_input_error():
    empty = str(DATA / "empty-dir")
    with pytest.raises(InputError) as caught:
        collect_files([empty])
    assert str(caught.value) == f"{empty}: no manifests found (*.yaml, *.yml, *.json)"


def as_nobody(action) -> str:  # noqa: ANN001
    """`action()` in a forked child running as nobody (root reads and writes every file): its
    error, or "no error"."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.setgid(65534)
            os.setuid(65534)
            try:
                action()
                message = "no error"
            except Exception as exc:  # noqa: BLE001 - reported to the parent
                message = str(exc)
            os.write(write_end, message.encode())
        finally:
            os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    with os.fdopen(read_end) as pipe:
        return pipe.read()


def test_unreadable_file_is_an_input_error(tmp_path):
    path = tmp_path / "secret.yaml"
    path.write_text(POD)
    path.chmod(0)
    tmp_path.chmod(0o755)
    if os.geteuid() == 0:
        assert as_nobody(lambda: collect_files([str(path)])) == f"{path}: Permission denied"
        return
    with pytest.raises(InputError, match="Permission denied"):
        collect_files([str(path)])


def test_error_in_one_file_names_that_file(tmp_path):
    (tmp_path / "a.yaml").write_text(POD)
    (tmp_path / "b.yaml").write_text("kind: Pod\nspec: [\n")
    with pytest.raises(InputError) as caught:
        read_bundle([str(tmp_path)])
    assert (caught.value.file, caught.value.line) == (str(tmp_path / "b.yaml"), 3)


# --- the real corpus -----------------------------------------------------------------------


def corpus_counts() -> dict[str, int]:
    """SOURCES.md's table: file -> its "pod-spec containers" column."""
    if not (CORPUS / "SOURCES.md").is_file():
        return {}
    rows = [line.split("|") for line in (CORPUS / "SOURCES.md").read_text().splitlines()]
    header = next(r for r in rows if len(r) > 3 and r[1].strip() == "file")
    column = [cell.strip() for cell in header].index("pod-spec containers")
    return {
        r[1].strip(): int(r[column])
        for r in rows
        if len(r) > column and r[1].strip().endswith(".yaml")
    }


CORPUS_COUNTS = corpus_counts()
needs_corpus = pytest.mark.skipif(not CORPUS_COUNTS, reason=f"no corpus at {CORPUS}")


def test_ci_has_the_corpus_so_its_tests_run():
    """CI runs with ../shared beside the checkout: there the corpus tests must not skip."""
    if not os.environ.get("CI"):
        pytest.skip("outside CI the corpus is optional")
    assert CORPUS_COUNTS, f"no corpus at {CORPUS}"


@needs_corpus
def test_corpus_lists_every_file():
    assert set(CORPUS_COUNTS) == {p.name for p in CORPUS.glob("*.yaml")}


@needs_corpus
@pytest.mark.parametrize("name", sorted(CORPUS_COUNTS))
def test_corpus_use_count_matches_sources(name):
    assert len(read_bundle([str(CORPUS / name)]).uses) == CORPUS_COUNTS[name]


@needs_corpus
@pytest.mark.parametrize("name", sorted(CORPUS_COUNTS))
def test_corpus_use_lines_hold_their_images(name):
    lines = (CORPUS / name).read_text().splitlines()
    for use in read_bundle([str(CORPUS / name)]).uses:
        assert use.problem is None
        assert re.match(r"\s*(- )?image: ", lines[use.line - 1]), use
        assert use.image in lines[use.line - 1], use


@needs_corpus
@pytest.mark.parametrize("name", sorted(CORPUS_COUNTS))
def test_corpus_bodies_equal_pyyaml(name):
    text = (CORPUS / name).read_text()
    expected = []
    for doc in yaml.load_all(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
        if isinstance(doc, dict) and doc.get("kind"):
            items = doc.get("items")
            list_kind = doc["kind"].endswith("List") and isinstance(items, list)
            expected.extend(items if list_kind else [doc])
    assert [o.body for o in read_text(text, name).objects] == expected


@needs_corpus
def test_corpus_exact_lines():
    bundle = read_bundle([str(CORPUS)])
    found = {(Path(u.file).name, u.container): u.line for u in bundle.uses}
    assert found[("descheduler-cronjob.yaml", "descheduler")] == 19
    assert found[("flannel-kube-flannel.yaml", "install-cni-plugin")] == 136
    assert found[("flannel-kube-flannel.yaml", "kube-flannel")] == 160
    assert found[("argo-rollouts-rollout-bluegreen.yaml", "rollouts-demo")] == 20
    assert found[("longhorn-longhorn.yaml", "pre-pull-share-manager-image")] == 5618


@needs_corpus
def test_corpus_longhorn_crd_image_keys_are_not_uses():
    text = (CORPUS / "longhorn-longhorn.yaml").read_text()
    bare = [n for n, line in enumerate(text.splitlines(), 1) if line.strip() == "image:"]
    assert len(bare) == 9
    assert not {u.line for u in read_text(text, "longhorn.yaml").uses} & set(bare)


@needs_corpus
def test_corpus_cronjob_is_read_from_job_template():
    [template] = read_bundle([str(CORPUS / "descheduler-cronjob.yaml")]).templates
    assert (template.owner.kind, template.path) == (
        "CronJob",
        "spec.jobTemplate.spec.template.spec",
    )


@needs_corpus
def test_corpus_argo_cd_namespaces_are_none():
    uses = read_bundle([str(CORPUS / "argo-cd-install.yaml")]).uses
    assert {u.namespace for u in uses} == {None}
    assert {u.container_type for u in uses} == {"initContainers", "containers"}
