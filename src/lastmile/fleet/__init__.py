"""Teams, dispatchers' teams, hubs, vehicles, drivers, skills, duty status."""
