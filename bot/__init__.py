"""Redline: defense-AI news alerts for Slack, Discord and the terminal."""

__version__ = "0.1.0"
