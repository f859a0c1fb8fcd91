"""Dashboard integrations: the remote desired state (version.json) and what is derived from it."""
