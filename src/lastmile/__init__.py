"""lastmile: multi-tenant last-mile delivery and dispatch platform."""

__version__ = "0.1.0"
