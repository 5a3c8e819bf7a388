"""Background jobs: periodic maintenance now, the outbox relay later."""
