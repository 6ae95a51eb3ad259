# The Stigmem node image: `docker build -t stigmem-node .` (or `docker compose up --build`).
#
#  - slim Debian Python base; the node lives in a virtual environment copied from a build stage,
#    so no compiler, pip cache or source tree reaches the final image;
#  - runs as the unprivileged user `stigmem` (uid/gid 10001);
#  - data in the volume /data (STIGMEM_DB_PATH=/data/stigmem.db); migrations run on start;
#  - works with a read-only root filesystem (bytecode is compiled at build time; give /tmp a
#    tmpfs for SQLite's temporary files, as docker-compose.yml does);
#  - no secrets in any layer: keys come from the environment at run time (see docs/operations.md).
ARG PYTHON_IMAGE=docker.io/library/python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# Only for builders behind a private index or a TLS-inspecting proxy; empty by default.
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_CERT
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python3 -m venv /opt/stigmem
COPY pyproject.toml README.md ./
COPY src ./src
RUN /opt/stigmem/bin/pip install --no-compile . \
 && /opt/stigmem/bin/python -m compileall -q -j 0 /opt/stigmem \
 && /opt/stigmem/bin/stigmem --help > /dev/null

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="stigmem-node" \
      org.opencontainers.image.description="Stigmem node: typed, immutable, attributable facts, federated" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --gid 10001 stigmem \
 && useradd --uid 10001 --gid stigmem --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin stigmem \
 && mkdir -p /data \
 && chown stigmem:stigmem /data \
 && chmod 0700 /data
COPY --from=build /opt/stigmem /opt/stigmem
COPY infra/container/entrypoint.sh /opt/stigmem/bin/stigmem-entrypoint
ENV PATH=/opt/stigmem/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SQLITE_TMPDIR=/tmp \
    STIGMEM_DB_PATH=/data/stigmem.db \
    STIGMEM_HOST=0.0.0.0 \
    STIGMEM_PORT=8765
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8765
USER 10001:10001
# The node answers 200 {"status":"ok"} only when its database answers too.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD python3 -c "import os, sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('STIGMEM_PORT', '8765'), timeout=4).status == 200 else 1)"
# The entrypoint checks /data is writable, then execs stigmem-node: the node runs as PID 1 and
# handles SIGTERM itself (graceful shutdown: in-flight requests finish, the database closes).
STOPSIGNAL SIGTERM
ENTRYPOINT ["stigmem-entrypoint"]
