"""Reports: business and quality figures computed from the other domains' data."""
