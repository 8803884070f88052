"""routes, admins, reminders and digest in feeds.yaml: values and located problems."""

from __future__ import annotations

from datetime import time

import pytest

from bot.config import parse_config
from bot.errors import ConfigError
from bot.models import Admins, Route

BASE = """\
feeds:
  - name: DefenseScoop
    url: https://defensescoop.com/feed/
entities:
  - name: Anthropic
  - name: Department of Defense
"""
ENV = {"DISCORD_WEBHOOK_POLICY": "https://discord.com/api/webhooks/1/tok"}


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(BASE + text, environ=ENV)
    return info.value.problems


def test_routes_and_admins_parse() -> None:
    settings = parse_config(
        BASE
        + """\
routes:
  - name: policy
    slack: C0123ABCD
    discord: ${DISCORD_WEBHOOK_POLICY}
    entities: [anthropic, Department of Defense]
    feeds: [DefenseScoop]
    deadlines_only: true
  - name: all
    slack: C0123ABCD
admins:
  slack: [U012ABCDEF]
  discord: ["123456789012345678", 223456789012345678]
  notify:
    slack: C0999ZZZZ
    discord: ${DISCORD_WEBHOOK_POLICY}
""",
        environ=ENV,
    )
    assert settings.routes == (
        Route(
            "policy",
            "C0123ABCD",
            ENV["DISCORD_WEBHOOK_POLICY"],
            ("anthropic", "Department of Defense"),
            ("DefenseScoop",),
            True,
        ),
        Route("all", "C0123ABCD"),
    )
    assert settings.admins == Admins(
        ("U012ABCDEF",),
        ("123456789012345678", "223456789012345678"),
        "C0999ZZZZ",
        ENV["DISCORD_WEBHOOK_POLICY"],
    )


def test_reminders_and_digest_parse() -> None:
    settings = parse_config(
        BASE
        + """\
reminders:
  before: [48h, 24h, 0h]
  at: "07:30"
  timezone: America/New_York
digest:
  at: "09:15"
  timezone: Europe/Brussels
  days_ahead: 14
""",
        environ=ENV,
    )
    assert settings.reminders.before == (172800.0, 86400.0, 0.0)
    assert settings.reminders.at == time(7, 30)
    assert settings.reminders.timezone == "America/New_York"
    assert (settings.digest.at, settings.digest.timezone, settings.digest.days_ahead) == (
        time(9, 15),
        "Europe/Brussels",
        14,
    )
    assert settings.digest.enabled


def test_defaults_without_sections() -> None:
    settings = parse_config(BASE)
    assert settings.routes == ()
    assert settings.reminders.before == (86400.0, 0.0)
    assert settings.digest.at == time(8, 0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "routes:\n  - name: x\n    discord: https://discord.com/api/webhooks/1/secret\n",
            "feeds.yaml:9: routes[0].discord: a webhook URL carries a token",
        ),
        (
            "routes:\n  - name: x\n    slack: '#policy'\n",
            "feeds.yaml:9: routes[0].slack: must be a Slack channel ID",
        ),
        (
            "routes:\n  - name: x\n",
            "feeds.yaml:8: routes[0]: needs a slack channel or a discord webhook",
        ),
        (
            "routes:\n  - name: x\n    slack: C0123ABCD\n    entities: [Nobody]\n",
            "feeds.yaml:10: routes[0].entities[0]: no entity called 'Nobody' is configured",
        ),
        (
            "routes:\n  - name: x\n    slack: C0123ABCD\n    feeds: [Nope]\n",
            "feeds.yaml:10: routes[0].feeds[0]: no feed called 'Nope' is configured",
        ),
        (
            "routes:\n  - name: x\n    slack: C0123ABCD\n  - name: X\n    slack: C0123ABCD\n",
            "feeds.yaml:10: routes[1].name: duplicate route name 'X'",
        ),
        (
            "routes:\n  - name: x\n    discord: ${MISSING_HOOK}\n",
            "feeds.yaml:9: routes[0].discord: environment variable MISSING_HOOK is not set",
        ),
        ("admins:\n  slack: [alice]\n", "feeds.yaml:8: admins.slack[0]: must be a Slack user ID"),
        (
            "admins:\n  discord: [bob]\n",
            "feeds.yaml:8: admins.discord[0]: must be a Discord user or role ID",
        ),
        ("reminders:\n  at: '8am'\n", "feeds.yaml:8: reminders.at: must be a time of day"),
        (
            "reminders:\n  timezone: Mars/Olympus\n",
            "feeds.yaml:8: reminders.timezone: unknown time zone",
        ),
        ("reminders:\n  before: [soon]\n", "feeds.yaml:8: reminders.before[0]: invalid duration"),
        ("digest:\n  colour: red\n", "feeds.yaml:8: digest.colour: unknown key"),
    ],
)
def test_problems_are_located(text: str, expected: str) -> None:
    found = problems(text)
    assert any(p.startswith(expected) for p in found), found


def test_webhook_url_never_appears_in_problems() -> None:
    found = problems(
        "routes:\n  - name: x\n    discord: https://discord.com/api/webhooks/1/secret\n"
    )
    assert not any("secret" in p for p in found)
