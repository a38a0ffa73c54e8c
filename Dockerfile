# syntax=docker/dockerfile:1
# The pyfaas platform image: one image, the service chosen by its command:
#   pyfaas-gateway | pyfaas-worker | pyfaas-idler | pyfaas-operator | pyfaas (CLI) | pyfaas-watchdog
# The Pulumi program (infra/) runs it with `command: [pyfaas-gateway]` and so on, as uid 10001 with a
# read-only root filesystem (/tmp is an emptyDir), so nothing here writes outside /tmp at run time.
# Function images are built from templates/python3-http/Dockerfile (the function template), not this one.
#
#   docker build -t ghcr.io/pyfaas/pyfaas:0.1.0 .
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# Dependencies first (cached while only the code changes), pinned by the lock file.
# (The version is read from runtime/core/version.py, the licence file from LICENSE: both are needed here.)
COPY pyproject.toml README.md LICENSE requirements.lock ./
COPY runtime/core/version.py ./runtime/core/version.py
RUN python -m venv /opt/pyfaas \
    && /opt/pyfaas/bin/pip install --upgrade pip \
    && mkdir -p infra \
    && ln -s runtime pyfaas && ln -s ../infra runtime/infra \
    && touch runtime/__init__.py runtime/core/__init__.py infra/__init__.py \
    && /opt/pyfaas/bin/pip install -c requirements.lock . \
    && /opt/pyfaas/bin/pip uninstall -y pyfaas
# The files runtime/_bundled/ links to (shipped in the package, see docs/api.md).
COPY alerts ./alerts
COPY examples ./examples
COPY templates ./templates
COPY infra ./infra
COPY runtime ./runtime
RUN /opt/pyfaas/bin/pip install --no-deps -c requirements.lock . \
    && /opt/pyfaas/bin/python -m compileall -q /opt/pyfaas/lib

FROM ${PYTHON_IMAGE}
RUN groupadd --gid 10001 pyfaas \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin pyfaas
COPY --from=build /opt/pyfaas /opt/pyfaas
ENV PATH=/opt/pyfaas/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
WORKDIR /tmp
# Gateway API 8080, gateway metrics 8082, worker metrics 8081, idler metrics 8083.
EXPOSE 8080 8081 8082 8083
CMD ["pyfaas-gateway"]
