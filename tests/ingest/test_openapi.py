"""The API description served to clients names every route the API has."""
from __future__ import annotations


def test_openapi_lists_every_api_route(client, app):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    documented = {(path, method.upper()) for path, ops in doc["paths"].items()
                  for method in ops if method != "parameters"}
    actual = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/") and rule.endpoint != "api.openapi_json":
            path = rule.rule[len("/api/v1"):].replace("<path:external_id>", "{id}")
            actual |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert actual <= documented, actual - documented
    example = doc["paths"]["/events"]["post"]["requestBody"]["content"]["application/json"]["example"]
    assert example["version"] == 1 and len(example["events"]) == 3


def test_openapi_example_batch_is_accepted(client, db, registration):
    from lti_tool.ingest import tokens

    _t, secret = tokens.create(registration.id)
    doc = client.get("/api/v1/openapi.json").get_json()
    example = doc["paths"]["/events"]["post"]["requestBody"]["content"]["application/json"]["example"]
    response = client.post("/api/v1/events", json=example, headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200 and response.get_json()["accepted"] == 3
