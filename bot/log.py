"""Logging setup: one line per event, key=value (or JSON), secrets redacted.

Messages are written as ``"event words key=%s key=%s"``; the formatter adds time, level and
logger. ``REDLINE_LOG_FORMAT=json`` switches to one JSON object per line for log shippers.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from datetime import UTC, datetime

# Tokens and URLs that carry credentials. Order matters: webhook URLs before generic tokens.
_SECRET_PATTERNS = (
    re.compile(r"https://(?:[\w.-]+\.)?discord(?:app)?\.com/api/(?:v\d+/)?webhooks/[^\s\"']+"),
    re.compile(r"https://hooks\.slack(?:-gov)?\.com/[^\s\"']+"),
    re.compile(r"\bxox[abposr]-[\w-]+"),
    re.compile(r"\bxapp-[\w-]+"),
)
_QUIET_LOGGERS = (
    "httpx",
    "httpcore",
    "apscheduler",
    "slack_bolt",
    "slack_sdk",
    "urllib3",
    "tzlocal",
    "waitress",
    "websocket",
)


class RedactingFilter(logging.Filter):
    """Replaces known secret shapes and the values of secret environment variables."""

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        super().__init__()
        self._secrets = tuple(s for s in secrets if len(s) >= 8)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        for pattern in _SECRET_PATTERNS:
            text = pattern.sub("[redacted]", text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
            record.exc_text = None
        record.msg = self.redact(message)
        record.args = None
        return True


class _LineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"{when} {record.levelname.lower()} {record.name} {record.getMessage()}"


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="seconds")
        return json.dumps(
            {
                "time": when,
                "level": record.levelname.lower(),
                "logger": record.name,
                "message": record.getMessage(),
            }
        )


def secret_values(environ: dict[str, str] | None = None) -> tuple[str, ...]:
    """Values of environment variables that hold secrets (tokens, signing keys, webhooks)."""
    env = os.environ if environ is None else environ
    markers = ("TOKEN", "SECRET", "WEBHOOK", "KEY", "PASSWORD")
    return tuple(v for k, v in env.items() if any(m in k.upper() for m in markers) and v)


def setup_logging(level: str | None = None, fmt: str | None = None) -> None:
    """Configure the root logger from arguments or REDLINE_LOG_LEVEL / REDLINE_LOG_FORMAT."""
    level = (level or os.environ.get("REDLINE_LOG_LEVEL") or "INFO").upper()
    fmt = (fmt or os.environ.get("REDLINE_LOG_FORMAT") or "text").lower()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter() if fmt == "json" else _LineFormatter())
    handler.addFilter(RedactingFilter(secret_values()))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level if level in logging.getLevelNamesMapping() else "INFO")
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
