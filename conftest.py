"""Register the harness's pytest plugin for claims/ and tests/."""

pytest_plugins = ["harness.plugin"]
