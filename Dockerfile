# syntax=docker/dockerfile:1
#
# pullgate in a container:
#   docker build -t pullgate .
#   docker run --rm -u "$(id -u):$(id -g)" -v "$PWD:/work" pullgate check /work/manifests
#
# The base is pinned by digest so every build starts from the same bytes. Refresh it with
#   docker buildx imagetools inspect python:3.12-slim --format '{{json .Manifest.Digest}}'
# or pass another with --build-arg PYTHON_IMAGE=... (any Debian-like image with python3 >= 3.10
# and its venv module; scripts/test-image builds on a debootstrap stand-in that way).
ARG PYTHON_IMAGE=python:3.12-slim@sha256:78387bc3881b8273120a12ebe6c1ab22b018ccc2c9adf565ae1ac9b536e184ea
# Optional extras: cluster (kubernetes client) and azure (Azure SDK, for --aks); empty for none.
ARG EXTRAS=cluster,azure
# The version the wheel is built as: the release workflow passes the tag's. The build context has
# no .git, so without it setuptools-scm falls back to 0.0.0+unknown.
ARG VERSION=

FROM ${PYTHON_IMAGE} AS build
ARG EXTRAS
ARG VERSION
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gate ./gate
# Wheels for pullgate and everything it needs, so the final stage installs offline.
# ${EXTRAS:+[...]} leaves the brackets out when EXTRAS is empty (`.[]` is not a requirement).
RUN python3 -m venv /opt/build \
    && if [ -n "$VERSION" ]; then export SETUPTOOLS_SCM_PRETEND_VERSION_FOR_PULLGATE="$VERSION"; fi \
    && /opt/build/bin/pip wheel --wheel-dir /wheels ".${EXTRAS:+[$EXTRAS]}" \
    && for wheel in /wheels/pullgate-*.whl; do echo "$wheel${EXTRAS:+[$EXTRAS]}"; done \
       > /wheels/requirements.txt

FROM ${PYTHON_IMAGE}
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 PATH=/opt/pullgate/bin:$PATH
# pullgate in its own virtual environment: the same on python:*-slim and on a distribution's
# python3, whose system site-packages pip may not touch (PEP 668).
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python3 -m venv /opt/pullgate \
    && /opt/pullgate/bin/pip install --no-index --find-links /wheels -r /wheels/requirements.txt \
    && useradd --uid 10001 --user-group --create-home --home-dir /home/pullgate \
       --shell /usr/sbin/nologin pullgate
USER 10001:10001
WORKDIR /work
ENTRYPOINT ["pullgate"]
CMD ["--help"]
