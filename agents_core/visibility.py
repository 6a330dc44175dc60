"""Who sees what. One rule, used by the admin, the API and the agents alike.

A CSM sees the accounts they own and everything hanging off them; holders of
`TEND_VIEW_ALL_PERMISSION` (managers) and superusers see the whole book.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


def sees_everything(user) -> bool:
    """Superusers and holders of TEND_VIEW_ALL_PERMISSION see every account and run."""
    return bool(user.is_active and (user.is_superuser or user.has_perm(settings.TEND_VIEW_ALL_PERMISSION)))


class OwnedQuerySet(models.QuerySet):
    """Rows that belong to an owner through `owner_path` (e.g. "account__owner")."""

    owner_path = "owner"

    def visible_to(self, user):
        """What a user may see: their own rows, or all of them with the permission."""
        if sees_everything(user):
            return self
        if not user.is_active:
            return self.none()
        return self.filter(**{self.owner_path: user})
