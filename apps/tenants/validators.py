"""Validators for brand and tenancy fields."""

import re

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator

HOSTNAME_PATTERN = re.compile(
    r"^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*$"
)
RESERVED_SCHEMAS = {"public", "information_schema", "weft_template"}

validate_hex_colour = RegexValidator(
    r"^#[0-9a-fA-F]{6}$", "Enter a colour as #RRGGBB, for example #1F6FEB."
)
validate_slug = RegexValidator(
    r"^[a-z][a-z0-9-]{1,46}[a-z0-9]$",
    "Use 3–48 lower-case letters, digits and hyphens, starting with a letter.",
)


def validate_hostname(value: str) -> None:
    if not HOSTNAME_PATTERN.match(value or ""):
        raise ValidationError(f"{value!r} is not a valid domain name (lower-case, dot-separated labels).")


def validate_plain_text(value: str) -> None:
    """Brand text is shown on every page and email: no markup, even though templates escape it."""
    if re.search(r"[<>]|javascript:", value or "", re.IGNORECASE):
        raise ValidationError("Use plain text: angle brackets and script links are not allowed.")


def validate_schema_slug(value: str) -> None:
    schema = value.replace("-", "_")
    if schema in RESERVED_SCHEMAS or schema.startswith("pg_"):
        raise ValidationError(f"{value!r} is reserved; choose another slug.")


LOGO_MAX_BYTES = 512 * 1024
LOGO_FORMATS = {"PNG", "JPEG", "WEBP"}


def validate_logo(file) -> None:
    """Logos are raster images of a known type and modest size (SVG can carry script)."""
    if file.size > LOGO_MAX_BYTES:
        raise ValidationError(f"The logo is {file.size // 1024} KB; the limit is {LOGO_MAX_BYTES // 1024} KB.")
    image = getattr(file, "image", None)
    image_format = getattr(image, "format", None)
    if image is not None and image_format not in LOGO_FORMATS:
        raise ValidationError(f"Upload a PNG, JPEG or WebP logo, not {image_format or 'this file type'}.")
