"""What the client pages ask of the apps above parties. Those apps fill it in their AppConfig.ready();
parties imports none of them (README "Architecture": a lower app publishes, a higher app implements)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: name → a callable giving that entry of the client list's template context (playbooks: ``tiers_pending``,
#: when the service tiers shown wait for the next automation run)
_CLIENT_LIST_CONTEXT: dict[str, Callable[[], Any]] = {}


def add_client_list_context(name: str, provider: Callable[[], Any]) -> None:
    """Let the client list's template show ``name``, computed by ``provider()`` on every list view."""
    _CLIENT_LIST_CONTEXT[name] = provider


def client_list_context() -> dict[str, Any]:
    return {name: provider() for name, provider in _CLIENT_LIST_CONTEXT.items()}
