"""The `/api` routers (hosts, ops, commands, events, tokens, metrics), login routes and the one error body."""
