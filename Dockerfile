# Redline: defense-AI news alerts. `redline run` as a non-root user, the store on a volume.
#   docker build -t redline .
#   docker run -v redline-data:/app/storage -p 8080:8080 --env-file .env redline
# compose.yaml does the same with every environment variable documented.
# tests/test_docker.py checks this file against the code (command, user, volume, port, health).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    REDLINE_CONFIG=/app/feeds.yaml \
    REDLINE_DB=/app/storage/redline.db

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN pip install . \
    && useradd --system --uid 10001 --user-group --home-dir /app --no-create-home redline \
    && mkdir -p /app/storage \
    && chown redline:redline /app/storage
# The bundled feed list; mount your own over it (compose.yaml does, read-only).
COPY feeds.yaml ./feeds.yaml

USER redline
# A named volume created from this directory inherits its owner, so the store is writable.
VOLUME ["/app/storage"]
# /healthz, /slack/events (HTTP mode) and /discord/interactions; REDLINE_PORT moves it.
EXPOSE 8080
# 200 when the scheduler runs, a poll succeeded recently and the store is writable; else 503.
# slim images have no curl: python's urllib fails (exit 1) on a refused connection or a 503.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:${REDLINE_PORT:-8080}/healthz', timeout=4)" || exit 1
CMD ["redline", "run"]
