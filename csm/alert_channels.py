"""The channels a churn alert goes out on, beyond the admin itself.

Each channel is a function `(alert, delivery) -> external id` that raises
ChannelSkipped when it is not configured (not a failure) and any other
exception when it fails (recorded on the delivery and retried).
"""

from __future__ import annotations

from collections.abc import Callable

from agents_core import events
from csm.models import AlertDelivery, ChurnAlert

EVENT_TYPE = "csm.churn_alert"


class ChannelSkipped(Exception):
    pass


def event_bus(alert: ChurnAlert, delivery: AlertDelivery) -> str:
    account = alert.account
    return events.publish(
        EVENT_TYPE,
        {
            "alert": alert.pk,
            "account": {"id": account.pk, "external_id": account.external_id, "name": account.name},
            "owner": account.owner.get_username() if account.owner else None,
            "reason": alert.reason,
            "reasons": alert.reasons,
            "explanation": alert.explanation,
            "score": alert.score,
            "previous_score": alert.previous_score,
            "rag": alert.rag,
            "churn_risk": alert.churn_risk,
            "arr": str(alert.arr),
            "renewal_date": alert.renewal_date.isoformat() if alert.renewal_date else None,
            "raised_at": alert.raised_at.isoformat(),
        },
        # Stable per alert, so consumers can drop the repeats of a retry.
        event_id=f"churn-alert-{alert.pk}",
    )


# Channel -> sender. Gmail, Google Chat and the Notion page join here.
CHANNELS: dict[str, Callable[[ChurnAlert, AlertDelivery], str]] = {
    AlertDelivery.Channel.EVENT: event_bus,
}
