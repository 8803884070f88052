# Redline: defense-AI news alerts. The store lives on the /app/storage volume.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    REDLINE_CONFIG=/app/feeds.yaml \
    REDLINE_DB=/app/storage/redline.db

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /app redline \
    && mkdir -p /app/storage \
    && chown redline:redline /app/storage
COPY feeds.yaml ./feeds.yaml

USER redline
VOLUME ["/app/storage"]
CMD ["redline", "run"]
