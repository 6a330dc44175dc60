"""Agents and their registry.

An agent has an id, a name and a table of task types to handlers. A handler
takes the run's payload and the `AgentRun` and returns a JSON-ready summary.
Apps declare their agent in `<app>/agent.py` and call `registry.register()`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agents_core.visibility import sees_everything

if TYPE_CHECKING:
    from agents_core.batches import BatchHandler
    from agents_core.models import AgentRun

Handler = Callable[[dict[str, Any], "AgentRun"], Mapping[str, Any] | None]
PayloadCleaner = Callable[[dict[str, Any]], dict[str, Any]]
# (clean payload, user) -> payload limited to what the user may touch.
PayloadScoper = Callable[[dict[str, Any], Any], dict[str, Any]]


class AgentError(Exception):
    """Base of the errors a caller can show to a person as they are."""


class UnknownAgent(AgentError):
    pass


class UnknownTaskType(AgentError):
    pass


class InvalidPayload(AgentError):
    pass


class NotAllowed(AgentError):
    """The requesting user may not start this task (answered as 403)."""


class NotVisible(AgentError):
    """The payload names objects the requesting user may not see (answered as 404)."""


def for_managers_only(payload: dict[str, Any], user) -> dict[str, Any]:
    """Tasks that touch the whole book are for people who see all of it."""
    if not sees_everything(user):
        raise NotAllowed("Only managers (csm.view_all_accounts) may run this task.")
    return payload


def no_payload(payload: dict[str, Any]) -> dict[str, Any]:
    if payload:
        raise InvalidPayload(f"this task takes no payload, got keys {sorted(payload)}")
    return {}


@dataclass(frozen=True)
class TaskType:
    handler: Handler
    # Validates and normalises the payload before a run is recorded, so a
    # caller hears about a bad payload at once, not from a failed run later.
    clean_payload: PayloadCleaner = no_payload
    description: str = ""
    # Applied when a person starts the task (admin, API, command as a user):
    # limits the work to what they may see, or raises NotVisible.
    scope_payload: PayloadScoper | None = None
    # For work that fans out (agents_core.fanout): does one batch of a run.
    batch: BatchHandler | None = None


@dataclass(frozen=True)
class Schedule:
    """A cron-style schedule for one task, in settings.TIME_ZONE."""

    name: str
    task_type: str
    cron: str
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Agent:
    id: str
    name: str
    tasks: dict[str, TaskType]
    schedules: list[Schedule] = field(default_factory=list)

    def task(self, task_type: str) -> TaskType:
        try:
            return self.tasks[task_type]
        except KeyError:
            known = ", ".join(sorted(self.tasks)) or "none"
            raise UnknownTaskType(
                f"Agent '{self.id}' has no task type '{task_type}'. Known task types: {known}."
            ) from None

    def clean_payload(self, task_type: str, payload: Any, user=None) -> dict[str, Any]:
        if payload is None:
            payload = {}
        if not isinstance(payload, dict):
            raise InvalidPayload(f"payload must be a JSON object, got {type(payload).__name__}")
        task = self.task(task_type)
        clean = task.clean_payload(dict(payload))
        if user is not None and task.scope_payload is not None:
            clean = task.scope_payload(clean, user)
        return clean


class Registry:
    def __init__(self) -> None:
        self._agents: dict[str, Agent] = {}

    def register(self, agent: Agent) -> Agent:
        if agent.id in self._agents and self._agents[agent.id] is not agent:
            raise ValueError(f"An agent with id '{agent.id}' is already registered.")
        self._agents[agent.id] = agent
        return agent

    def get(self, agent_id: str) -> Agent:
        try:
            return self._agents[agent_id]
        except KeyError:
            known = ", ".join(sorted(self._agents)) or "none"
            raise UnknownAgent(f"Unknown agent '{agent_id}'. Known agents: {known}.") from None

    def all(self) -> list[Agent]:
        return [self._agents[k] for k in sorted(self._agents)]

    def unregister(self, agent_id: str) -> None:
        self._agents.pop(agent_id, None)


registry = Registry()
