"""Factories for the public-schema cast; tenant-schema factories live beside their app's tests."""

import factory

from apps.tenants.choices import Role
from apps.tenants.models import Membership, Partner, User


class PartnerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Partner
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Partner {n}")
    slug = factory.Sequence(lambda n: f"partner-{n}")
    display_name = factory.LazyAttribute(lambda p: f"{p.name} Connect")
    support_email = factory.LazyAttribute(lambda p: f"support@{p.slug}.example")
    email_sender_name = factory.LazyAttribute(lambda p: p.display_name)
    domain_suffix = factory.LazyAttribute(lambda p: f"{p.slug}.test")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "pw")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    role = Role.VIEWER
