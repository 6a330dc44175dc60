"""Survey answers in: `survey-responses/` (Tend's API) and `/webhooks/delighted`, `/webhooks/typeform`
(the survey tools' own webhooks, each checked against the tool's signature before it is read).

Whatever way an answer comes, it goes through csm.surveys.responses: placed on its account, the
account's NPS input derived again, and a detractor followed up.
"""

from __future__ import annotations

import json

import django_filters
from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from agents_core.api.common import ModelPermissions, StrictSerializerMixin
from csm.api.filters import ByVisibleAccount
from csm.models import Account
from csm.surveys import formats
from csm.surveys.formats import Answer
from csm.surveys.models import SurveyResponse
from csm.surveys.responses import ResponseRefused, check, places_for, save_answers

MAX_WEBHOOK_BYTES = 1024 * 1024


def _not_json(constant: str):
    """Python reads NaN and Infinity; JSON does not."""
    raise ValueError(f"{constant} is not JSON")


class SurveyResponseSerializer(StrictSerializerMixin, serializers.ModelSerializer):
    account = serializers.PrimaryKeyRelatedField(
        queryset=Account.objects.none(), required=False, allow_null=True,
        help_text="The account answering. Leave it out to place the answer by `email` (a contact's, "
        "or a tracked user's).",
    )  # fmt: skip
    contact = serializers.PrimaryKeyRelatedField(read_only=True)
    category = serializers.CharField(read_only=True, help_text="promoter, passive or detractor.")
    external_id = serializers.CharField(
        required=False, allow_blank=True, max_length=100,
        help_text="Your id for the answer: sending the same id again updates it (200) instead of adding one.",
    )  # fmt: skip

    class Meta:
        model = SurveyResponse
        fields = ["id", "account", "contact", "email", "name", "kind", "score", "category", "comment",
                  "responded_at", "survey", "channel", "external_id", "created_at", "updated_at"]  # fmt: skip
        read_only_fields = ["channel", "created_at", "updated_at"]
        validators = []  # the same tool id again is an update (csm.surveys.responses), not a conflict
        extra_kwargs = {
            "score": {"help_text": "NPS: 0-10. CSAT: 1-5."},
            "comment": {"help_text": "What they wrote, at most 10,000 characters."},
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None:
            self.fields["account"].queryset = Account.objects.visible_to(request.user)

    def validate(self, attrs):
        try:
            answer = check(
                Answer(
                    external_id=attrs.get("external_id", ""),
                    kind=attrs.get("kind", SurveyResponse.Kind.NPS),
                    score=attrs["score"],
                    responded_at=attrs["responded_at"],
                    email=attrs.get("email", ""),
                    name=attrs.get("name", ""),
                    comment=attrs.get("comment", ""),
                    survey=attrs.get("survey", ""),
                )
            )
        except ResponseRefused as exc:
            field, _, message = str(exc).partition(": ")
            raise ValidationError(
                {field if field in self.fields else "non_field_errors": [message or str(exc)]}
            ) from None
        if attrs.get("account") is None and not answer.email:
            raise ValidationError({"account": ["Give the account, or the email of who answered."]})
        return {**attrs, "answer": answer}


class SurveyResponseFilter(ByVisibleAccount):
    since = django_filters.DateTimeFilter(
        field_name="responded_at", lookup_expr="gte", help_text="On or after."
    )

    class Meta:
        model = SurveyResponse
        fields = ["account", "kind", "channel", "since"]


class SurveyResponseViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """NPS and CSAT answers on your accounts, newest first. Posting one places it (by `account`, or
    by `email`), derives the account's NPS input again, and follows a detractor up (alert, playbooks)."""

    serializer_class = SurveyResponseSerializer
    permission_classes = [IsAuthenticated, ModelPermissions]
    filterset_class = SurveyResponseFilter
    search_fields = ["email", "name", "comment", "survey"]
    ordering_fields = ["responded_at", "score", "id"]
    ordering = ["-responded_at", "-id"]

    def get_queryset(self):
        return SurveyResponse.objects.visible_to(self.request.user)

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        account = data.get("account")
        answer = data["answer"]
        if account is None:
            # Placed by email: only on an account the caller may see (else it would leak whose it is).
            mine = Account.objects.visible_to(request.user)
            placed, _contact = places_for({answer.email}, within=mine).get(answer.email, (None, None))
            account = mine.filter(pk=placed).first() if placed else None
            if account is None:
                raise ValidationError(
                    {"email": ["No account of yours has a contact or user with this email."]}
                )
        saved = save_answers([answer], channel=SurveyResponse.Channel.API, account=account)
        response = saved.responses[0]
        code = status.HTTP_201_CREATED if saved.created else status.HTTP_200_OK
        return Response(self.get_serializer(response).data, status=code)


def _answer_webhook(request, *, tool: str, secret: str, signed, read) -> JsonResponse:
    if not secret:
        return JsonResponse({"error": f"{tool} webhooks are not set up on this Tend."}, status=404)
    body = request.body
    if len(body) > MAX_WEBHOOK_BYTES:
        return JsonResponse({"error": "the body is larger than 1 MB"}, status=413)
    if not signed(secret, body):
        return JsonResponse({"error": f"not signed by {tool} with this Tend's secret"}, status=401)
    try:
        payload = json.loads(body, parse_constant=_not_json)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return JsonResponse({"error": "the body is not JSON"}, status=400)
    if not isinstance(payload, dict):
        return JsonResponse({"error": "the body is not a JSON object"}, status=400)
    try:
        answer = read(payload)
        if answer is None:
            return JsonResponse({"ok": True, "kept": False, "why": "not an NPS or CSAT answer"})
        answer = check(answer)
    except (formats.Unreadable, ResponseRefused) as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    channel = SurveyResponse.Channel.DELIGHTED if tool == "Delighted" else SurveyResponse.Channel.TYPEFORM
    saved = save_answers([answer], channel=channel)
    row = saved.responses[0]
    return JsonResponse({"ok": True, "kept": True, "id": row.pk, "placed": row.account_id is not None})


@csrf_exempt
@require_POST
def delighted(request):
    header = request.headers.get("X-Delighted-Webhook-Signature", "")
    return _answer_webhook(
        request, tool="Delighted", secret=settings.DELIGHTED_API_KEY,
        signed=lambda secret, body: formats.delighted_signed(secret, body, header), read=formats.delighted,
    )  # fmt: skip


@csrf_exempt
@require_POST
def typeform(request):
    header = request.headers.get("Typeform-Signature", "")
    return _answer_webhook(
        request, tool="Typeform", secret=settings.TYPEFORM_WEBHOOK_SECRET,
        signed=lambda secret, body: formats.typeform_signed(secret, body, header), read=formats.typeform,
    )  # fmt: skip
