# syntax=docker/dockerfile:1
#
# pullgate in a container:
#   docker build -t pullgate .
#   docker run --rm -v "$PWD:/work" pullgate check /work/manifests
#
# The base is pinned by digest so every build starts from the same bytes. This python:3.12-slim
# digest was taken from public Dockerfiles and could not be checked from the machine this file was
# written on (no registry access there): refresh it before relying on it, e.g.
#   docker buildx imagetools inspect python:3.12-slim --format '{{json .Manifest.Digest}}'
# and pass it with --build-arg PYTHON_IMAGE=python:3.12-slim@sha256:<digest>.
ARG PYTHON_IMAGE=python:3.12-slim@sha256:78387bc3881b8273120a12ebe6c1ab22b018ccc2c9adf565ae1ac9b536e184ea
# Optional extras: cluster (kubernetes client) and azure (Azure SDK, for --aks).
ARG EXTRAS=cluster,azure

FROM ${PYTHON_IMAGE} AS build
ARG EXTRAS
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gate ./gate
# Wheels for pullgate and everything it needs, so the final stage installs offline.
RUN python -m pip wheel --wheel-dir /wheels ".[${EXTRAS}]"

FROM ${PYTHON_IMAGE}
ARG EXTRAS
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m pip install --no-index --find-links /wheels "pullgate[${EXTRAS}]" \
    && useradd --uid 10001 --user-group --create-home --home-dir /home/pullgate \
       --shell /usr/sbin/nologin pullgate
USER 10001:10001
WORKDIR /work
ENTRYPOINT ["pullgate"]
CMD ["--help"]
