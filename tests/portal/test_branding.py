"""Brand fields are validated (plain text, colours, logo type/size/name) and pages stay readable in any colours."""

import io

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from apps.tenants.branding import brand_for_partner, contrast_ratio, readable_ink
from apps.tenants.validators import validate_logo, validate_plain_text
from tests.factories import PartnerFactory


def image_bytes(fmt: str, size=(64, 64)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "#0B5563").save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.mark.parametrize("name,fmt", [("logo.png", "PNG"), ("logo.JPG", "JPEG"), ("logo.webp", "WEBP")])
def test_png_jpeg_and_webp_logos_are_accepted(name, fmt):
    validate_logo(SimpleUploadedFile(name, image_bytes(fmt)))


@pytest.mark.parametrize("name,content,message", [
    ("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "PNG, JPEG or WebP"),
    ("logo.gif", image_bytes("GIF"), "not GIF"),
    ("logo.html", image_bytes("PNG"), "name it *.png"),  # served as a page by extension otherwise
    ("logo.png", image_bytes("PNG", size=(4000, 10)), "4000×10 pixels"),
    ("logo.png", image_bytes("PNG")[:40], "PNG, JPEG or WebP"),  # truncated: not a whole image
    ("logo.png", b"\x89PNG" + b"0" * (600 * 1024), "the limit is 512 KB"),
])
def test_unsafe_or_unsuitable_logos_are_refused(name, content, message):
    with pytest.raises(ValidationError) as refused:
        validate_logo(SimpleUploadedFile(name, content))
    assert message in refused.value.messages[0]


@pytest.mark.parametrize("text", [
    "<b>Acme</b>", "Acme javascript:alert(1)", "Acme\nBcc: victim@example.com", "Acme\u202egnp.exe", "Tab\there",
    "VBScript : x",
])
def test_brand_text_must_be_plain(text):
    with pytest.raises(ValidationError):
        validate_plain_text(text)


@pytest.mark.parametrize("text", ["Northwind Connect", "Smith & Jones (EMEA) — Support", "Data: Analytics GmbH"])
def test_ordinary_brand_names_pass(text):
    validate_plain_text(text)


@pytest.mark.django_db
def test_partner_with_a_script_name_or_a_bad_colour_is_refused(cast):
    partner = PartnerFactory.build(display_name="<script>x</script>", primary_colour="red")
    with pytest.raises(ValidationError) as refused:
        partner.full_clean()
    assert {"display_name", "primary_colour"} <= set(refused.value.message_dict)


def test_text_on_brand_colours_stays_readable():
    assert readable_ink("#0B5563") == "#FFFFFF"  # dark teal: white text
    assert readable_ink("#E8A33D") == "#111111"  # light amber: dark text (white would be 2.2:1)
    for colour in ("#0B5563", "#E8A33D", "#2EC4B6", "#FFFF00", "#000000"):
        assert contrast_ratio(colour, readable_ink(colour)) >= 4.5


@pytest.mark.django_db
def test_brand_carries_the_ink_colours(cast):
    brand = brand_for_partner(cast.xpartner)
    assert brand.display_name == cast.xpartner.display_name and brand.primary_ink in ("#FFFFFF", "#111111")
