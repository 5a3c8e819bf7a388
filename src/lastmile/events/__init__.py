"""Events: the catalogue of event types, the transactional outbox, the polling feed and
webhook delivery."""
