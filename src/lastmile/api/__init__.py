"""The HTTP application: middleware, error mapping, and each domain's routers."""
