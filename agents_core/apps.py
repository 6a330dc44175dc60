from django.apps import AppConfig


class AgentsCoreConfig(AppConfig):
    name = "agents_core"
    verbose_name = "Agents"

    def ready(self) -> None:
        # Each app declares its agent in `<app>/agent.py`, the way admin.py
        # modules are found: importing them fills the registry.
        from django.utils.module_loading import autodiscover_modules

        autodiscover_modules("agent")
        from django.db.backends.signals import connection_created

        from agents_core import audit  # noqa: F401  (connects the sign-in receivers)
        from agents_core.fields import read_json_as_text

        connection_created.connect(read_json_as_text, dispatch_uid="agents_core.read_json_as_text")
