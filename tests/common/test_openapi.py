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
               if not any(answer.get("content") for code, answer in operation["responses"].items()
                          if code.startswith("2"))]
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
