"""Validators for brand and tenancy fields."""

import re
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator

HOSTNAME_PATTERN = re.compile(
    r"^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*$"
)
RESERVED_SCHEMAS = {"public", "information_schema", "weft_template"}

validate_hex_colour = RegexValidator(
    r"^#[0-9a-fA-F]{6}$", "Enter a colour as #RRGGBB, for example #1F6FEB."
)
validate_currency = RegexValidator(r"^[A-Z]{3}$", "Enter a three-letter ISO 4217 currency code, e.g. EUR.")
validate_slug = RegexValidator(
    r"^[a-z][a-z0-9-]{1,46}[a-z0-9]$",
    "Use 3–48 lower-case letters, digits and hyphens, starting with a letter.",
)


def validate_hostname(value: str) -> None:
    if not HOSTNAME_PATTERN.match(value or ""):
        raise ValidationError(f"{value!r} is not a valid domain name (lower-case, dot-separated labels).")


# Markup, script-bearing URL schemes, control characters (a newline in a sender name is a header
# injection) and bidirectional overrides (they make "moc.elpmaxe" read as "example.com").
_UNSAFE_TEXT = re.compile(
    r"[<>\x00-\x1f\x7f\u202a-\u202e\u2066-\u2069]|\b(?:javascript|vbscript)\s*:", re.IGNORECASE
)


def validate_plain_text(value: str) -> None:
    """Brand text is shown on every page and email: plain text only, even though templates escape it."""
    if _UNSAFE_TEXT.search(value or ""):
        raise ValidationError(
            "Use plain text: angle brackets, script links, control characters and direction overrides are not allowed."
        )


def validate_schema_slug(value: str) -> None:
    schema = value.replace("-", "_")
    if schema in RESERVED_SCHEMAS or schema.startswith("pg_"):
        raise ValidationError(f"{value!r} is reserved; choose another slug.")


LOGO_MAX_BYTES = 512 * 1024
LOGO_MAX_SIDE = 2048  # pixels; a larger logo is a mistake or a decompression bomb
LOGO_FORMATS = {"PNG": {".png"}, "JPEG": {".jpg", ".jpeg"}, "WEBP": {".webp"}}


def validate_logo(file) -> None:
    """Logos are PNG, JPEG or WebP images of modest size whose file name matches their content.

    SVG is refused because it can carry script. The extension must match the real format because web
    servers pick the content type from it: a PNG named ``logo.html`` would be served as a page. Files
    already in storage were checked when uploaded and are not read again.
    """
    if getattr(file, "_committed", False):
        return
    if file.size > LOGO_MAX_BYTES:
        raise ValidationError(f"The logo is {file.size // 1024} KB; the limit is {LOGO_MAX_BYTES // 1024} KB.")
    image_format, width, height = _image_facts(file)
    if image_format not in LOGO_FORMATS:
        raise ValidationError(f"Upload a PNG, JPEG or WebP logo, not {image_format or 'this file type'}.")
    extension = Path(file.name or "").suffix.lower()
    if extension not in LOGO_FORMATS[image_format]:
        raise ValidationError(f"The file is a {image_format} image; name it *{sorted(LOGO_FORMATS[image_format])[0]}.")
    if max(width, height) > LOGO_MAX_SIDE:
        raise ValidationError(f"The logo is {width}×{height} pixels; the limit is {LOGO_MAX_SIDE} on each side.")


def _image_facts(file) -> tuple[str | None, int, int]:
    """The format and size Pillow reads from the header, after checking the file is a whole image."""
    from PIL import Image, UnidentifiedImageError

    position = file.tell() if hasattr(file, "tell") else 0
    try:
        file.seek(0)
        with Image.open(file) as image:
            facts = (image.format, *image.size)
            if max(image.size) <= LOGO_MAX_SIDE:
                image.verify()
        return facts
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError, ValueError):
        return None, 0, 0
    finally:
        file.seek(position)
