from django.contrib import admin
from django.http import HttpResponsePermanentRedirect
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from agents_core.api.views import AgentListView, AgentRunsView, RunDetailView
from config.health import healthz, readyz
from csm.api.calendar import calendar_feed
from csm.api.contacts import ContactViewSet
from csm.api.interactions import InteractionViewSet
from csm.api.slack import interactions as slack_interactions
from csm.api.surveys import SurveyResponseViewSet
from csm.api.surveys import delighted as delighted_webhook
from csm.api.surveys import typeform as typeform_webhook
from csm.api.tracking import segment
from csm.api.views import (
    AccountViewSet,
    AlertViewSet,
    BulkFeatureUsageView,
    BulkSignalsView,
    OpportunityViewSet,
    OutcomeViewSet,
    QBRViewSet,
    TaskViewSet,
)
from sales.api import DraftViewSet


def favicon(request):
    """Browsers ask for /favicon.ico whatever the page says (resolved per request: the
    hashed name of the production static files is known only after collectstatic)."""
    return HttpResponsePermanentRedirect(static("tend/favicon.svg"))


router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("accounts", AccountViewSet, basename="account")
router.register("opportunities", OpportunityViewSet, basename="opportunity")
router.register("drafts", DraftViewSet, basename="draft")
router.register("alerts", AlertViewSet, basename="alert")
router.register("qbrs", QBRViewSet, basename="qbr")
router.register("outcomes", OutcomeViewSet, basename="outcome")
router.register("tasks", TaskViewSet, basename="task")
router.register("interactions", InteractionViewSet, basename="interaction")
router.register("contacts", ContactViewSet, basename="contact")
router.register("survey-responses", SurveyResponseViewSet, basename="survey-response")

api_v1 = [
    *router.urls,
    path("signals/bulk/", BulkSignalsView.as_view(), name="signals-bulk"),
    path("feature-usage/bulk/", BulkFeatureUsageView.as_view(), name="feature-usage-bulk"),
    path("agents/", AgentListView.as_view(), name="agent-list"),
    path("agents/<str:agent_id>/runs/", AgentRunsView.as_view(), name="agent-runs"),
    path("runs/<int:pk>/", RunDetailView.as_view(), name="run-detail"),
]

handler404 = "config.errors.not_found"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("favicon.ico", favicon),
    path("admin/", admin.site.urls),
    path("oidc/", include("mozilla_django_oidc.urls")),
    path("api/v1/", include((api_v1, "api"))),
    # The usage stream, in Segment's protocol (a write key per tracking source).
    path("ingest/segment/v1/<slug:kind>", segment, name="segment-ingest"),
    # A user's calendar feed; the secret in the link is what authenticates it.
    path("calendar/<str:token>.ics", calendar_feed, name="calendar-feed"),
    # The buttons on Tend's Slack messages (checked against Slack's signature).
    path("slack/interactions", slack_interactions, name="slack-interactions"),
    # Survey tools' webhooks (checked against each tool's signature).
    path("webhooks/delighted", delighted_webhook, name="delighted-webhook"),
    path("webhooks/typeform", typeform_webhook, name="typeform-webhook"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]
