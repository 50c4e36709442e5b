from tests.access.conftest import world  # noqa: F401 - the world fixture, shared
