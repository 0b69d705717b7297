"""The ceiling for webhook intake: Django on the same gunicorn, no middleware, a view that does one INSERT.

Served by bench/webhook_intake.py as ``DJANGO_SETTINGS_MODULE=bench._intake_ceiling``; it writes the event row
into the benchmark customer's own inbound-event table (schema from ``WEFT_BENCH_SCHEMA``), so the row is the same
size as the real path's. Nothing checks the signature or the host: this is what one INSERT a request allows.
"""

import json
import os

from django.db import connection
from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from config.settings.local import *  # noqa: F403

DEBUG = False
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "bench._intake_ceiling"
_SCHEMA = os.environ.get("WEFT_BENCH_SCHEMA", "public")
_CONNECTION_ID = int(os.environ.get("WEFT_BENCH_CONNECTION_ID", "0"))


@csrf_exempt
def one_insert(request, connection_slug):
    event = json.loads(request.body)
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO "{_SCHEMA}".runs_inboundevent (connection_id, event_id, event_type, payload, status, '
            "deliveries, error_message, received_at) VALUES (%s, %s, %s, %s, 'received', 1, '', now())",
            [_CONNECTION_ID, event["id"], event["type"], json.dumps(event)])
    response = JsonResponse({"status": "accepted", "event": event["id"]}, status=202)
    response["Content-Length"] = len(response.content)  # as Weft's CommonMiddleware does: no chunked answers
    return response


urlpatterns = [path("api/v1/hooks/<str:connection_slug>/", one_insert)]
