"""Integration intake: merchant orders from POS, inventory and food-delivery systems become
linked pickup and drop-off pairs, idempotent on (source, external_order_id)."""
