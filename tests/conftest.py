pytest_plugins = [
    "tests.fixtures.guards",
    "tests.fixtures.app",
    "tests.fixtures.factories",
    "tests.fixtures.smtp_sink",
]
