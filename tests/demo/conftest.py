"""The demo is a command: its tests use the CLI's in-process runner."""

from tests.cli.conftest import cli

__all__ = ["cli"]
