"""Recipient tracking links: every drop-off has an unguessable `/t/<token>` URL showing the
recipient its status, ETA window, driver's first name and vehicle type, the driver's position
while the stop is under way, and a proof summary once delivered. The only unauthenticated page.
"""
