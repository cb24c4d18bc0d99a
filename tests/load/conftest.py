"""Load and durability tests (real server processes on loopback; bounded in time)."""


def pytest_configure(config):
    config.addinivalue_line("markers", "load: load and crash-durability tests against a server process")
