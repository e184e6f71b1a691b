"""The PostgreSQL fixtures of the study tests."""

from tests.studies.conftest import postgres_server, postgres_url  # noqa: F401  (fixtures)
