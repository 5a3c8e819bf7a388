"""The routing engines behind one interface (`base.Engine`), by name."""

from __future__ import annotations

from lastmile.routing.solver.engines.base import Engine, UnsupportedProblem
from lastmile.routing.solver.engines.pyvrp_engine import PyvrpEngine
from lastmile.routing.solver.engines.vroom_engine import VroomEngine

ENGINES: dict[str, Engine] = {"pyvrp": PyvrpEngine(), "vroom": VroomEngine()}
"""Every engine `solve.solve(..., engine=name)` accepts."""

__all__ = ["ENGINES", "Engine", "PyvrpEngine", "UnsupportedProblem", "VroomEngine"]
