"""Shared kernel: configuration, database, unit of work, tenancy, errors. Imports no domain."""
