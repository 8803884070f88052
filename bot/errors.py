"""Redline's exception tree.

    RedlineError
     ├── ConfigError   fatal at start (a hot reload keeps the running config)
     ├── FetchError    a feed could not be fetched (url, status)
     ├── ParseError    bytes that are not a feed at all
     └── NotifyError   a delivery failed (target, status, retry_after)

SQLite errors are not wrapped: they mean a bug or a bad disk.
"""

from __future__ import annotations


class RedlineError(Exception):
    """Base of every error Redline raises on purpose."""


class ConfigError(RedlineError):
    """One or more configuration problems, each already located (``file:line: field: message``)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class FetchError(RedlineError):
    """A feed fetch failed; ``status`` is the HTTP status when there was one."""

    def __init__(
        self, url: str, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        self.url = url
        self.status = status
        self.retry_after = retry_after
        super().__init__(message)


class ParseError(RedlineError):
    """Bytes that feedparser could not turn into a feed with items or a title."""


class NotifyError(RedlineError):
    """A delivery to a chat platform failed."""

    def __init__(
        self,
        target: str,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.target = target
        self.status = status
        self.retry_after = retry_after
        super().__init__(message)
