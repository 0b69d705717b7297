"""Exceptions API: list and read for viewers; commands (comment, acknowledge, assign, resolve, ignore, reopen,
payload, replay-preview, replay, bulk) as views with input serializers that call services.

Who may do what is ``apps.tenants.access`` (``exception.*`` actions, asked by ``CanViewTenant`` and again by each
service); the schema of the request's host is the scope.
"""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.common.api import PAGE_PARAMETERS, page_of
from apps.exceptions import fixing, selectors, services
from apps.exceptions.api import examples
from apps.exceptions.api import serializers as s
from apps.exceptions.errors import owner_refused
from apps.exceptions.models import IntegrationException
from apps.tenants.models import User


def _validated(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class ExceptionListApi(APIView):
    """``GET /api/v1/exceptions/?kind=&status=&owner=&min_age_hours=&project=&customer=&min_amount=&min_severity=``"""

    api_area = "exceptions"  # the API key scope its reads need

    @extend_schema(operation_id="exceptions_list", parameters=[s.ListFilterSerializer, *PAGE_PARAMETERS],
                   responses=page_of(s.ExceptionSerializer, "ExceptionPage"), examples=examples.LIST)
    def get(self, request) -> Response:
        filters = selectors.ExceptionFilter(**_validated(s.ListFilterSerializer, request.query_params))
        queryset = selectors.exceptions_list(filters=filters, user=request.user)
        paginator = self.settings.DEFAULT_PAGINATION_CLASS()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(s.ExceptionSerializer(page, many=True).data)


class ExceptionDetailApi(APIView):
    api_area = "exceptions"  # the API key scope its reads need

    @extend_schema(responses=s.ExceptionDetailSerializer, examples=examples.DETAIL)
    def get(self, request, pk: int) -> Response:
        exception = selectors.exception_detail(pk=pk)
        if exception is None:
            raise NotFound("No such exception.")
        records = exception.records.order_by("-is_open", "-last_seen")[:200]
        return Response({**s.ExceptionSerializer(exception).data,
                         "records": s.RecordSerializer(records, many=True).data,
                         "comments": s.CommentSerializer(exception.comments.select_related("author"), many=True).data,
                         "history": selectors.exception_history(exception)})


class _Command(APIView):
    """A POST that changes one exception and answers with its new state (``write_action``: who may)."""

    api_area = "exceptions"  # the API key scope its reads need
    write_action = None
    input_serializer = None

    def post(self, request, pk: int) -> Response:
        exception = get_object_or_404(IntegrationException, pk=pk)
        data = _validated(self.input_serializer, request.data) if self.input_serializer else {}
        result = self.perform(request, exception, data)
        if result is not None:
            return result
        exception.refresh_from_db()
        return Response(s.ExceptionSerializer(exception).data)

    def perform(self, request, exception, data):
        raise NotImplementedError


@extend_schema(request=s.CommentInput, responses={201: s.CommentSerializer}, examples=examples.COMMENT)
class ExceptionCommentApi(_Command):
    write_action, input_serializer = "exception.comment", s.CommentInput

    def perform(self, request, exception, data):
        comment = services.exception_comment(exception=exception, body=data["body"], acting_user=request.user)
        return Response(s.CommentSerializer(comment).data, status=status.HTTP_201_CREATED)


@extend_schema(request=None, responses=s.ExceptionSerializer, examples=examples.ACKNOWLEDGE)
class ExceptionAcknowledgeApi(_Command):
    write_action = "exception.acknowledge"

    def perform(self, request, exception, data):
        services.exception_acknowledge(exception=exception, acting_user=request.user)


@extend_schema(request=s.AssignInput, responses=s.ExceptionSerializer, examples=examples.ASSIGN)
class ExceptionAssignApi(_Command):
    write_action, input_serializer = "exception.assign", s.AssignInput

    def perform(self, request, exception, data):
        services.exception_assign(exception=exception, owner=_user(data["owner"]), acting_user=request.user,
                                  customer=request.tenant)


@extend_schema(request=s.ReasonInput, responses=s.ExceptionSerializer, examples=examples.RESOLVE)
class ExceptionResolveApi(_Command):
    write_action, input_serializer = "exception.resolve", s.ReasonInput

    def perform(self, request, exception, data):
        services.exception_resolve(exception=exception, acting_user=request.user, reason=data["reason"])


@extend_schema(request=s.IgnoreInput, responses=s.ExceptionSerializer, examples=examples.IGNORE)
class ExceptionIgnoreApi(_Command):
    write_action, input_serializer = "exception.ignore", s.IgnoreInput

    def perform(self, request, exception, data):
        services.exception_ignore(exception=exception, acting_user=request.user, reason=data["reason"])


@extend_schema(request=s.ReasonInput, responses=s.ExceptionSerializer, examples=examples.REOPEN)
class ExceptionReopenApi(_Command):
    write_action, input_serializer = "exception.reopen", s.ReasonInput

    def perform(self, request, exception, data):
        services.exception_reopen(exception=exception, acting_user=request.user, reason=data["reason"])


@extend_schema(request=s.PayloadInput, responses={201: s.PayloadEditAnswer}, examples=examples.PAYLOAD)
class ExceptionPayloadApi(_Command):
    write_action, input_serializer = "exception.edit_payload", s.PayloadInput

    def perform(self, request, exception, data):
        edit = fixing.exception_payload_edit(exception=exception, record_key=data["record_key"],
                                             payload=data["payload"], acting_user=request.user, reason=data["reason"])
        return Response({"record_key": data["record_key"], "run_item": edit.run_item_id, "payload": edit.after},
                        status=status.HTTP_201_CREATED)


@extend_schema(methods=["POST"], request=s.RecordsInput, responses=s.ExceptionReplayPreviewAnswer,
               examples=examples.PREVIEW_POST)
class ExceptionReplayPreviewApi(_Command):
    """``POST`` (or ``GET`` for all open records): what a replay would send, per record; nothing is sent."""

    write_action, input_serializer = "customer.view", s.RecordsInput

    @extend_schema(responses=s.ExceptionReplayPreviewAnswer, examples=examples.PREVIEW_GET)
    def get(self, request, pk: int) -> Response:
        exception = get_object_or_404(IntegrationException, pk=pk)
        return Response({"preview": fixing.exception_replay_preview(exception=exception)})

    def perform(self, request, exception, data):
        return Response({"preview": fixing.exception_replay_preview(exception=exception,
                                                                    record_keys=data.get("record_keys"))})


@extend_schema(request=s.RecordsInput, responses={202: s.ExceptionReplayAnswer}, examples=examples.REPLAY)
class ExceptionReplayApi(_Command):
    write_action, input_serializer = "exception.replay", s.RecordsInput

    def perform(self, request, exception, data):
        runs = fixing.exception_replay(exception=exception, acting_user=request.user,
                                       record_keys=data.get("record_keys"))
        return Response({"runs": [r.pk for r in runs]}, status=status.HTTP_202_ACCEPTED)


class ExceptionBulkApi(APIView):
    """``POST /api/v1/exceptions/bulk/ {"ids": [...], "action": "resolve", "reason": "..."}``"""

    api_area = "exceptions"  # the API key scope its reads need
    write_action = "exception.resolve"  # bulk actions all need OPERATE, except acknowledge (checked below)

    def check_permissions(self, request) -> None:
        # The body may be any JSON (a list, a string): only an object can ask for acknowledge.
        action = request.data.get("action") if isinstance(request.data, dict) else None
        if action == "acknowledge":
            self.write_action = "exception.acknowledge"
        super().check_permissions(request)

    @extend_schema(request=s.BulkInput, responses=s.BulkAnswer, examples=examples.BULK)
    def post(self, request) -> Response:
        data = _validated(s.BulkInput, request.data)
        exceptions = list(IntegrationException.objects.filter(pk__in=data["ids"]))
        params = {"reason": data["reason"], "customer": request.tenant}
        if data["action"] == "assign":
            params["owner"] = _user(data.get("owner"))
        result = services.exceptions_bulk(exceptions=exceptions, action=data["action"], acting_user=request.user,
                                          **params)
        missing = set(data["ids"]) - {e.pk for e in exceptions}
        return Response({"done": result.done, "refused": {**result.refused, **{i: "No such exception." for i in
                                                                                 missing}}})


def _user(username: str | None):
    if not username:
        return None
    user = User.objects.filter(username=username, is_active=True).first()
    if user is None:
        raise owner_refused(username)
    return user
