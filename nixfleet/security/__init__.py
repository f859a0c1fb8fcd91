"""Agent and API tokens: the hashed token store, the dashboard's token service and the `nixfleet token` CLI."""
