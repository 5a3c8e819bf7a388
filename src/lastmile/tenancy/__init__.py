"""Tenants, users, roles, API keys, login and the auth dependencies."""
