from django.apps import AppConfig


class SalesConfig(AppConfig):
    name = "sales"
    verbose_name = "Sales"

    def ready(self) -> None:
        # The hand-off from CS: post_save on csm.ExpansionOpportunity.
        from sales import signals  # noqa: F401
