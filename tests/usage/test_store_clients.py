"""make_client's data loader checks only the service it builds (handler/usage/store.py), and
the client it builds is botocore's own: same models, same errors for a name botocore lacks."""

from __future__ import annotations

import pytest
from botocore.exceptions import UnknownServiceError

from handler.usage import store
from tests.usage.usage_support import Tables


@pytest.mark.unit
def test_the_loader_knows_its_service_for_every_model_type_botocore_ships() -> None:
    loader = store._service_loader("dynamodb")
    for type_name in ("service-2", "endpoint-rule-set-1", "waiters-2", "paginators-1"):
        assert loader.list_available_services(type_name) == ["dynamodb"]
    assert loader.list_available_services("no-such-model-1") == []


@pytest.mark.unit
def test_a_service_botocore_lacks_fails_as_it_did() -> None:
    with pytest.raises(UnknownServiceError):
        store.make_client("no-such-service", store.client_config(1, 1, 1))


@pytest.mark.unit
def test_clients_built_this_way_serve_their_calls(moto_tables: Tables) -> None:
    # moto_tables' client came from make_client, and create_tables used its waiter (waiters-2)
    names = moto_tables.client.list_tables()["TableNames"]
    assert {moto_tables.keys, moto_tables.usage} <= set(names)
    assert moto_tables.client.meta.service_model.service_name == "dynamodb"
