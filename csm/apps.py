from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CsmConfig(AppConfig):
    name = "csm"
    verbose_name = "Customer success"

    def ready(self) -> None:
        post_migrate.connect(_ensure_search_index, sender=self)


def _ensure_search_index(sender, using: str = "default", **kwargs) -> None:
    from csm.accounts.search import ensure_index

    ensure_index(using)
