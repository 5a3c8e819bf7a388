"""Travel-time and distance matrices: the offline estimate (default), OSRM and Google adapters
that fall back to it, their caches, and each tenant's routing settings.

The route planner calls `lastmile.routing.matrix.service.matrix_for`.
"""

from __future__ import annotations

from lastmile.routing.matrix.base import Matrix, MatrixProvider, Point
from lastmile.routing.matrix.google import GoogleRouteMatrix
from lastmile.routing.matrix.offline import OfflineProvider
from lastmile.routing.matrix.osrm import OsrmTable
from lastmile.routing.matrix.remote import RemoteProvider

PROVIDERS = ("offline", "osrm", "google")

__all__ = [
    "PROVIDERS",
    "GoogleRouteMatrix",
    "Matrix",
    "MatrixProvider",
    "OfflineProvider",
    "OsrmTable",
    "Point",
    "RemoteProvider",
]
