"""The composition root (DESIGN.md section 2): `lifecycle` runs the components (start in
order, stop in reverse, one TaskGroup, signals, reload, watchdog); `wiring` builds the
product's components from the configuration; the other modules are the adapters it uses.
"""

from __future__ import annotations

from daemon.app.lifecycle import (
    STOP_DEADLINE,
    App,
    AppContext,
    Component,
    ComponentCrashed,
    ComponentFactory,
    Supervisor,
)

__all__ = ["STOP_DEADLINE", "App", "AppContext", "Component", "ComponentCrashed",
           "ComponentFactory", "Supervisor"]
