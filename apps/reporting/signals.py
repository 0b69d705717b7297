"""Reporting's one upward notification: the stored figures were refreshed after a run. The portal listens (it
prepares the monthly review the next read will ask for); reporting never imports it."""

from django.dispatch import Signal

figures_refreshed = Signal()  # no kwargs: the current schema's figures
