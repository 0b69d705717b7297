"""Template filters for the REST workbench."""

import json

from django import template

register = template.Library()


@register.filter
def json_line(value, limit: int = 400) -> str:
    """A record as one line of JSON, cut at ``limit`` characters (the page shows the first page of records)."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit] + " …"
