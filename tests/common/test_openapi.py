"""The API describes itself: an OpenAPI 3.1 document generated from the code, covering every endpoint with
typed answers, and a docs page whose files Weft serves itself (no CDN)."""

from __future__ import annotations

import re

from django.test import Client

from tests.conftest import host
from tests.security import boundary as b


def schema(customer) -> dict:
    answer = Client().get("/api/v1/schema/", HTTP_HOST=host(customer), HTTP_ACCEPT="application/json")
    assert answer.status_code == 200, answer.content[:500]
    return answer.json()


def _filled(route: b.Route) -> str:
    """The route with every parameter as ``X``: ``/api/v1/exceptions/X/``."""
    names = [name for name, _ in route.params()]
    return route.url(dict.fromkeys(names, "X"), ["X"] * len(names))


def test_the_document_is_openapi_3_1_and_names_bearer_keys(cast):
    document = schema(cast.alpha)
    assert document["openapi"].startswith("3.1")
    assert document["components"]["securitySchemes"]["apiKey"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "weft_<prefix>_<secret>",
        "description": "An API key made in the partner admin (API keys); see docs/api.md."}


def test_every_api_endpoint_is_in_the_document_with_a_typed_answer(cast):
    document = schema(cast.alpha)
    documented = {re.sub(r"\{\w+\}", "X", p) for p in document["paths"]}
    api_routes = [r for r in b.routes("config.urls_tenant") if r.text.startswith("api/v1/")
                  and r.name not in ("api:api-root", "api:schema")]
    missing = sorted({_filled(r) for r in api_routes} - documented)
    assert len(api_routes) > 30 and not missing, missing
    untyped = [f"{method} {path}" for path, operations in document["paths"].items()
               for method, operation in operations.items()
               if not any(answer.get("content") or code == "204" for code, answer in operation["responses"].items()
                          if code.startswith("2"))]  # 204: no body by definition
    assert not untyped, untyped


def test_the_docs_page_is_served_from_weft_itself(cast):
    client = Client()
    page = client.get("/api/docs/", HTTP_HOST=host(cast.alpha))
    assert page.status_code == 200 and "/api/v1/schema/" in page.text
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets and not [a for a in assets if a.startswith(("http:", "https:", "//"))], assets
    script = next(a for a in assets if a.endswith("swagger-ui-bundle.js"))
    served = client.get(script, HTTP_HOST=host(cast.alpha))
    assert served.status_code == 200


def _operations(document: dict):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield f"{method.upper()} {path}", operation


def _examples(operation: dict):
    """(where, media type schema, example value) for every request and response example of the operation."""
    for media, content in operation.get("requestBody", {}).get("content", {}).items():
        for name, example in content.get("examples", {}).items():
            yield f"request {media} {name!r}", content["schema"], example["value"]
    for code, answer in operation["responses"].items():
        for media, content in answer.get("content", {}).items():
            for name, example in content.get("examples", {}).items():
                yield f"{code} {media} {name!r}", content["schema"], example["value"]


def test_every_operation_shows_an_example_and_the_answers_match_their_schemas(cast):
    """Both APIs (the customer's and the partner's) show each operation with an example of its successful
    answer (or, for an answer with no body, of its request), and each JSON example validates against the
    schema it illustrates (errors too: every problem answer shows one): an example that drifts from the
    serializer fails here."""
    import jsonschema

    for who, host_name in (("customer", host(cast.alpha)), ("partner", cast.xpartner.domain_suffix)):
        document = Client().get("/api/v1/schema/", HTTP_HOST=host_name, HTTP_ACCEPT="application/json").json()
        assert document["paths"], who
        without, invalid = [], []
        for label, operation in _operations(document):
            examples = list(_examples(operation))
            bodies = "requestBody" in operation or any(
                answer.get("content") for code, answer in operation["responses"].items() if code.startswith("2"))
            # a DELETE (no body either way) shows its error answers' examples; everything else its success
            if not [where for where, _, _ in examples if where.startswith(("2", "request") if bodies else "")]:
                without.append(f"{who}: {label}")
            for where, schema, value in examples:
                if "json" not in where.split()[1]:
                    continue
                validator = jsonschema.Draft202012Validator({**schema, "components": document["components"]})
                invalid += [f"{who}: {label} {where}: {error.message[:200]} at {list(error.absolute_path)}"
                            for error in validator.iter_errors(value)]
        assert not without, without
        assert not invalid, "\n".join(invalid)
