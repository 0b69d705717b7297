"""Weft as bench/webhook_intake.py serves it: the local database and keys, with DEBUG off as in production."""

from config.settings.local import *  # noqa: F403

DEBUG = False
