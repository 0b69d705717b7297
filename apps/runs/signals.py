"""The engine's one upward notification: a run finished. Exceptions and reporting listen; the engine
never imports them."""

from django.dispatch import Signal

run_finished = Signal()  # kwargs: run
