"""The admin pages' users and signed-in clients, for the inbox's route tests."""

from tests.webapp.admin.conftest import (  # noqa: F401
    agent,
    agent_client,
    make_user,
    operator,
    other_tenant,
    owner,
    owner_client,
)
