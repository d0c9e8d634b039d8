"""A server with TUSPORTAL_AUTH=required and open registration, shared by the account tests."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="session")
def accounts_server(server_factory: Any) -> Any:
    return server_factory({"TUSPORTAL_AUTH": "required", "TUSPORTAL_REGISTRATION": "open"})
