from django.apps import AppConfig


class AgentsCoreConfig(AppConfig):
    name = "agents_core"
    verbose_name = "Agents"

    def ready(self) -> None:
        # Each app declares its agent in `<app>/agent.py`, the way admin.py
        # modules are found: importing them fills the registry.
        from django.utils.module_loading import autodiscover_modules

        autodiscover_modules("agent")
        from agents_core import audit  # noqa: F401  (connects the sign-in receivers)
