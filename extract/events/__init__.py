"""From article records to events: clustering, dates, geocoding, claims and exports."""
