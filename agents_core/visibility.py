"""Who sees everything. One rule, used by the admin and the API alike."""

from django.conf import settings


def sees_everything(user) -> bool:
    """Superusers and holders of TEND_VIEW_ALL_PERMISSION see every account and run."""
    return bool(user.is_active and (user.is_superuser or user.has_perm(settings.TEND_VIEW_ALL_PERMISSION)))
