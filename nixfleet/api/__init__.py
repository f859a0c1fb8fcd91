"""HTTP API of the dashboard: authentication now, REST routes later."""
