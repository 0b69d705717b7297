from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo seed (``manage.py seed_demo``): the top layer, it may import every app and none imports it."""

    name = "apps.demo"
