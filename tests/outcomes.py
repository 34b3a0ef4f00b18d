"""Real check runs for the report tests: offline (no network), so they are fast.

Offline, the checks still prove invalid references (error), imagePullPolicy Never, mutable tags
and anonymous Docker Hub pulls (warnings), with the real file and line of each `image:` value.
"""

from __future__ import annotations

from pathlib import Path

from gate.policy import Policy
from gate.runner import CheckOptions, Outcome, run_check

DIGEST = "sha256:5e2c6f2b8c1d4a3f9e0b7a6d5c4b3a291807f6e5d4c3b2a19080f7e6d5c4b3a2"

# Line numbers matter: the tests look for them.
MIXED = f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  template:
    spec:
      initContainers:
        - name: migrate
          image: Registry.Example.com/Shop/Migrate:2.0
      containers:
        - name: web
          image: nginx
        - name: tool
          image: registry.example.com/shop/tool:1.0@{DIGEST}
          imagePullPolicy: Never
"""
# line of each image value in MIXED
MIGRATE_LINE, NGINX_LINE, TOOL_LINE = 11, 14, 16

WARNINGS_ONLY = f"""\
apiVersion: v1
kind: Pod
metadata:
  name: box
  namespace: tools
spec:
  containers:
    - name: box
      image: registry.example.com/tools/box:1.0@{DIGEST}
      imagePullPolicy: Never
"""

CLEAN = f"""\
apiVersion: v1
kind: Pod
metadata:
  name: ok
spec:
  containers:
    - name: ok
      image: registry.example.com/tools/ok:1.0@{DIGEST}
"""


def write(tmp_path: Path, text: str, name: str = "app.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def offline(path: Path, policy: Policy | None = None) -> Outcome:
    return run_check(CheckOptions(paths=[str(path)], offline=True, policy=policy))
