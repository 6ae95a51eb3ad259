"""Root conftest: plugins every test package may use."""

pytest_plugins = ["tests.process"]
