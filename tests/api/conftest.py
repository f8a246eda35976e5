"""Fixtures for the HTTP API: keys, a JSON client that checks every answer against the
OpenAPI description."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
import requests
from referencing import Registry, Resource

from phonebank.api import keys
from phonebank.api.openapi import spec
from phonebank.models import ApiScope

ALL_SCOPES = [s.value for s in ApiScope]


def _validator(schema_ref: dict) -> jsonschema.Draft202012Validator:
    document = spec()
    registry = Registry().with_resource(
        "urn:phonebank-api",
        Resource.from_contents(
            {"$schema": "https://json-schema.org/draft/2020-12/schema", **document}
        ),
    )
    target = {"$ref": "urn:phonebank-api" + schema_ref["$ref"]}
    return jsonschema.Draft202012Validator(target, registry=registry)


def documented_schema(method: str, path_template: str, status: int) -> dict | None:
    """The schema the description gives for this answer (None: no body documented)."""
    operation = spec()["paths"][path_template][method.lower()]
    response = operation["responses"].get(str(status))
    assert response is not None, f"{method} {path_template} answers {status}, undocumented"
    content = response.get("content")
    return None if content is None else content["application/json"]["schema"]


class HttpAnswer:
    """A ``requests`` response with the Flask test response's ``get_json``."""

    def __init__(self, response):
        self.response = response
        self.status_code = response.status_code
        self.headers = response.headers

    def get_json(self):
        return self.response.json() if self.response.content else None


class ApiClient:
    """Calls the API with a key; every answer is checked against the documented schema.
    ``client`` is Flask's test client, or a base URL to call over real HTTP."""

    def __init__(self, client, token: str | None):
        self.client = client
        self.token = token
        self.http = requests.Session() if isinstance(client, str) else None
        self.checked: list[tuple[str, str, int]] = []

    def call(self, method: str, path: str, template: str, json: Any = None, **headers) -> Any:
        if self.token:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        if self.http is not None:
            response = HttpAnswer(
                self.http.request(
                    method, f"{self.client}/api/v1{path}", json=json, headers=headers, timeout=30
                )
            )
        else:
            response = self.client.open("/api/v1" + path, method=method, json=json, headers=headers)
        schema = documented_schema(method, template, response.status_code)
        if schema is not None:
            _validator(schema).validate(response.get_json())
        self.checked.append((method, template, response.status_code))
        return response


@pytest.fixture
def make_key(db):
    def make(scopes=None, campaign_id=None, rate=600, name="Test integration"):
        key, token = keys.create_key(
            name,
            scopes or scopes_for(campaign_id),
            by=None,
            campaign_id=campaign_id,
            rate_per_minute=rate,
        )
        db.session.commit()
        return token

    return make


def scopes_for(campaign_id):
    """Every scope a key may have (fewer for a key restricted to one campaign)."""
    if campaign_id is None:
        return ALL_SCOPES
    return [s for s in ALL_SCOPES if s not in keys.ORGANISATION_SCOPES]


@pytest.fixture
def local_api(app, make_key):
    """A key with every scope, used through Flask's test client."""
    keys.limiter._counts.clear()
    return ApiClient(app.test_client(), make_key())


@pytest.fixture(params=["test-client", "http"])
def api(request, app, make_key, database_url, tmp_path):
    """A key with every scope, used through Flask's test client, and again over real HTTP
    against gunicorn on the same database."""
    keys.limiter._counts.clear()
    if request.param == "test-client":
        yield ApiClient(app.test_client(), make_key())
        return
    from tests.conftest import LiveServer, check_server_log

    server = LiveServer(database_url, tmp_path).start()
    try:
        yield ApiClient(server.url, make_key())
    finally:
        server.stop()
    check_server_log(server)
