"""Re-survey mission planning of veg-cover: flagged zones -> waypoints (QGroundControl plan, GeoJSON)
that respect GNSS accuracy, the camera footprint and a minimum waypoint spacing."""
