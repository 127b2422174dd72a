# driftmon daemon image: `docker build -t driftmon .`, or `docker compose up` (docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# 1. The dependencies, from the committed lock only: every version pinned, every file
#    hash-checked, nothing resolved. This layer is rebuilt when requirements.lock changes,
#    not on every source edit. The lock holds driftmon's dependencies, the postgres and duckdb extras and
#    the build backend; scripts/lock.sh regenerates it from pyproject.toml.
COPY requirements.lock /tmp/requirements.lock
RUN pip install --require-hashes --no-deps -r /tmp/requirements.lock \
    && rm /tmp/requirements.lock

# 2. A C compiler for driftmon's compiled text count (driftmon/core/_textmatch.c; without it
#    the build still succeeds and Arrow counts text, ~2x slower). Its own layer, cached.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*

# 3. driftmon itself, built with the locked setuptools, nothing downloaded. The whole tree
# (minus .dockerignore) so the examples referenced by config/docker/driftmon.yaml are at
# /app/examples; the example data is generated (fixed seed) if the tree lacks it.
COPY . /app
RUN pip install --no-deps --no-build-isolation --no-index . \
    && if [ ! -f examples/data/reference.parquet ] || [ ! -f examples/data/live.parquet ]; then \
         python examples/generate_data.py examples/data; \
       fi \
    && mkdir -p /etc/driftmon \
    && cp config/docker/driftmon.yaml /etc/driftmon/driftmon.yaml \
    && useradd --system --uid 10001 --no-create-home --home-dir /app --shell /usr/sbin/nologin driftmon \
    && mkdir -p /var/lib/driftmon/spool && chown -R driftmon /var/lib/driftmon

USER driftmon

EXPOSE 9464

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9464/healthz', timeout=4)"]

CMD ["driftmon", "run", "-c", "/etc/driftmon/driftmon.yaml"]
