"""How event hooks are called: normalised once, delivered safely, never breaking a call.

Kept apart from ``events.py`` (the event types) so that a client with no hooks attached
never imports, builds or pays for an event.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:
    from .events import Event

__all__ = ["EventHook", "Hooks", "as_hooks", "emit", "add_process_hook", "remove_process_hook"]

log = logging.getLogger("llmclient.events")

EventHook = Callable[["Event"], None]
Hooks = Union[EventHook, Iterable[EventHook], None]


#: Hooks that see every call of every client in this process (``llmclient.otel.instrument``);
#: read once per call, so an empty tuple costs a call nothing.
PROCESS_HOOKS: tuple[EventHook, ...] = ()
_process_lock = threading.Lock()


def add_process_hook(hook: EventHook) -> None:
    """Make ``hook`` see every call of every client from now on (once, however often added)."""
    global PROCESS_HOOKS
    with _process_lock:
        if hook not in PROCESS_HOOKS:
            PROCESS_HOOKS = PROCESS_HOOKS + (hook,)


def remove_process_hook(hook: EventHook) -> None:
    """Stop ``hook`` seeing new calls (calls already started keep it)."""
    global PROCESS_HOOKS
    with _process_lock:
        PROCESS_HOOKS = tuple(h for h in PROCESS_HOOKS if h is not hook)


def as_hooks(hooks: Hooks) -> tuple[EventHook, ...]:
    """Normalise ``None``, one callable or several into a tuple."""
    if hooks is None:
        return ()
    if callable(hooks):
        return (hooks,)
    return tuple(hooks)


def emit(hooks: tuple[EventHook, ...], event: Event) -> None:
    """Deliver ``event`` to every hook; a hook that raises is logged, never propagated."""
    for hook in hooks:
        try:
            hook(event)
        except Exception:  # a broken hook must not break the call it observes
            log.exception("event hook %r raised on %s; ignored", hook, type(event).__name__)
