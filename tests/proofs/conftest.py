"""The CLI runner of `tests/cli`, for the verifier's command."""

from tests.cli.conftest import cli  # noqa: F401 - the fixture, shared
