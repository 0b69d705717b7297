"""Connector tests. Tests marked ``prism`` talk HTTP to Prism mock servers of the vendors' specs
(``pytest -m prism`` runs just those; they are part of the normal suite)."""


def pytest_configure(config):
    config.addinivalue_line("markers", "prism: talks HTTP to a Prism mock server of a vendor's OpenAPI spec")
