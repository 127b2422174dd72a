# driftmon daemon image: `docker build -t driftmon .`, or `docker compose up` (docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# The whole tree (minus .dockerignore) so the examples referenced by config/docker/driftmon.yaml
# are at /app/examples; the example data is generated (fixed seed) if the tree lacks it.
COPY . /app
RUN pip install ".[duckdb]" \
    && if [ ! -f examples/data/reference.parquet ] || [ ! -f examples/data/live.parquet ]; then \
         python examples/generate_data.py examples/data; \
       fi \
    && mkdir -p /etc/driftmon \
    && cp config/docker/driftmon.yaml /etc/driftmon/driftmon.yaml \
    && useradd --system --uid 10001 --no-create-home --home-dir /app --shell /usr/sbin/nologin driftmon

USER driftmon

EXPOSE 9464

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9464/healthz', timeout=4)"]

CMD ["driftmon", "run", "-c", "/etc/driftmon/driftmon.yaml"]
