"""Tasks (pickups and drop-offs), lifecycle, proof of delivery, incidents, imports."""
