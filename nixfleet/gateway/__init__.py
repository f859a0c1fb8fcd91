"""The network edge for agents and browsers: the agent WebSocket, refused-connection journal and the sync socket."""
