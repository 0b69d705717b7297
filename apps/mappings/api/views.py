"""Mappings and rule sets over the API: read them with their versions and rules; start, edit, preview,
publish and roll back versions; replace a rule set's rules. Every write goes through ``apps.mappings.services``
(which checks ``configuration.change`` again and records history naming the caller)."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.mappings import services
from apps.mappings.api import serializers as s
from apps.mappings.rule_fields import rule_params_clean
from apps.mappings.rules import rules_check
from apps.mappings.samples import mapping_recent_samples
from apps.mappings.selectors import (
    mapping_get,
    mapping_version_get,
    mappings_with_versions,
    rule_set_get,
    rule_sets_with_rules,
)


def _validated(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _mapping(mapping) -> dict:
    return s.MappingSerializer(mapping).data


def _version(version) -> dict:
    problems = rules_check(version.rules, direction=version.mapping.direction, object_type=version.mapping.object_type)
    return s.VersionDetailSerializer({**{f: getattr(version, f) for f in (
        "number", "status", "notes", "published_at", "published_by", "rules")}, "problems": problems}).data


class _Configuration(APIView):
    api_area = "configuration"  # the API key scope its reads need
    write_action = "configuration.change"


class MappingListApi(_Configuration):
    """``GET /api/v1/mappings/``: every mapping with its versions (a short catalogue: not paged)."""

    @extend_schema(responses=s.MappingSerializer(many=True), examples=s.MAPPING_EXAMPLES)  # listed: one item
    def get(self, request) -> Response:
        return Response([_mapping(m) for m in mappings_with_versions()])


class MappingDetailApi(_Configuration):
    @extend_schema(responses=s.MappingSerializer, examples=s.MAPPING_EXAMPLES)
    def get(self, request, slug: str) -> Response:
        return Response(_mapping(mapping_get(slug=slug)))


class MappingVersionsApi(_Configuration):
    """``POST /api/v1/mappings/<slug>/versions/``: start a draft (a copy of the published rules, or given ones)."""

    @extend_schema(request=s.DraftInput, responses={201: s.VersionDetailSerializer}, examples=s.DRAFT_EXAMPLES)
    def post(self, request, slug: str) -> Response:
        mapping = mapping_get(slug=slug)
        data = _validated(s.DraftInput, request.data)
        version = services.mapping_draft_start(mapping=mapping, acting_user=request.user, rules=data.get("rules"),
                                               from_number=data.get("from_version"), notes=data["notes"])
        return Response(_version(version), status=status.HTTP_201_CREATED)


class MappingVersionApi(_Configuration):
    """One version: read it (with what stops it from being published), or edit it while it is a draft."""

    @extend_schema(responses=s.VersionDetailSerializer, examples=s.VERSION_EXAMPLES)
    def get(self, request, slug: str, number: int) -> Response:
        return Response(_version(mapping_version_get(slug=slug, number=number)))

    @extend_schema(request=s.DraftEditInput, responses=s.VersionDetailSerializer, examples=s.DRAFT_EXAMPLES[1:])
    def patch(self, request, slug: str, number: int) -> Response:
        version = mapping_version_get(slug=slug, number=number)
        data = _validated(s.DraftEditInput, request.data)
        version = services.mapping_version_update(version=version, rules=data.get("rules", version.rules),
                                                  notes=data.get("notes"), acting_user=request.user)
        return Response(_version(version))


class MappingPublishApi(_Configuration):
    """``POST .../versions/<number>/publish/``: publish a draft (or an earlier version again: a rollback)."""

    @extend_schema(request=None, responses=s.VersionDetailSerializer, examples=s.PUBLISH_EXAMPLES)
    def post(self, request, slug: str, number: int) -> Response:
        version = mapping_version_get(slug=slug, number=number)
        return Response(_version(services.mapping_version_publish(version=version, acting_user=request.user)))


class MappingRollbackApi(_Configuration):
    """``POST /api/v1/mappings/<slug>/rollback/``: publish the previous version (or the one named) again."""

    @extend_schema(request=s.RollbackInput, responses=s.VersionDetailSerializer, examples=s.ROLLBACK_EXAMPLES)
    def post(self, request, slug: str) -> Response:
        mapping = mapping_get(slug=slug)
        data = _validated(s.RollbackInput, request.data)
        version = services.mapping_rollback(mapping=mapping, acting_user=request.user, to_number=data.get("version"))
        return Response(_version(version))


class MappingPreviewApi(_Configuration):
    """``POST .../versions/<number>/preview/``: each record before (published) and after (this version), with
    every field rule's error; on given records or the latest ones the ledger holds. Nothing is saved."""

    write_action = "customer.view"  # a preview changes nothing

    @extend_schema(request=s.PreviewInput, responses=s.PreviewAnswer, examples=s.PREVIEW_EXAMPLES)
    def post(self, request, slug: str, number: int) -> Response:
        version = mapping_version_get(slug=slug, number=number)
        data = _validated(s.PreviewInput, request.data)
        samples = data.get("samples") or mapping_recent_samples(version.mapping, data["recent"])
        compared = services.mapping_preview_compare(version=version, samples=samples, variables=data["variables"])
        return Response({"mapping": slug, "version": number, "status": version.status,
                         "sampled": "given" if data.get("samples") else "recent", **compared})


class RuleSetListApi(_Configuration):
    """``GET /api/v1/rule-sets/``: every rule set with its rules in order (a short catalogue: not paged)."""

    @extend_schema(responses=s.RuleSetSerializer(many=True), examples=s.RULE_SET_EXAMPLES)  # listed: one item
    def get(self, request) -> Response:
        return Response(s.RuleSetSerializer(rule_sets_with_rules(), many=True).data)


class RuleSetDetailApi(_Configuration):
    @extend_schema(responses=s.RuleSetSerializer, examples=s.RULE_SET_EXAMPLES)
    def get(self, request, slug: str) -> Response:
        return Response(s.RuleSetSerializer(rule_set_get(slug=slug)).data)


class RuleSetRulesApi(_Configuration):
    """``PUT /api/v1/rule-sets/<slug>/rules/``: the rule set's rules become exactly these, in this order."""

    @extend_schema(request=s.RulesInput, responses=s.RuleSetSerializer, examples=s.RULES_EXAMPLES)
    def put(self, request, slug: str) -> Response:
        rule_set = rule_set_get(slug=slug)
        data = _validated(s.RulesInput, request.data)
        rules = [services.RuleInput(kind=r["kind"], params=rule_params_clean(r["kind"], r["params"]),
                                    message=r["message"], is_active=r["is_active"], pk=r.get("id"))
                 for r in data["rules"]]
        services.rule_set_rules_save(rule_set=rule_set, rules=rules, acting_user=request.user, reason=data["reason"])
        return Response(s.RuleSetSerializer(rule_set_get(slug=slug)).data)
