"""``runserver`` without Django's development static handler: WhiteNoise serves static files (with finders in
local settings), as it does in production.

Django's handler answers ``/static/..%2f..%2fmanage.py`` with a 500 (``SuspiciousFileOperation`` escapes
it); WhiteNoise answers 404.
"""

from django.contrib.staticfiles.management.commands.runserver import Command as StaticFilesRunserver


class Command(StaticFilesRunserver):
    def get_handler(self, *args, **options):
        # Skip staticfiles' wrapper, keep everything else runserver does.
        return super(StaticFilesRunserver, self).get_handler(*args, **options)
