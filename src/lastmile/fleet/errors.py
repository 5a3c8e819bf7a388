"""Errors of the fleet domain."""

from __future__ import annotations

from lastmile.core.errors import Conflict, NotFound


class TeamNotFound(NotFound):
    title = "Team not found"


class HubNotFound(NotFound):
    title = "Hub not found"


class VehicleNotFound(NotFound):
    title = "Vehicle not found"


class DriverNotFound(NotFound):
    title = "Driver not found"


class TeamNameTaken(Conflict):
    code, title = "team-name-taken", "Team name already in use in this tenant"


class SkillExists(Conflict):
    code, title = "skill-exists", "Skill already defined"


class DriverExists(Conflict):
    code, title = "driver-exists", "This user already has a driver record"


class InUse(Conflict):
    code, title = "in-use", "Still in use"
