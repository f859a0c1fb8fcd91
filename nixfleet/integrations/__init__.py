"""Dashboard integrations: GitHub flake-update PRs, the op engine's view of them and version.json, the demo repo."""
