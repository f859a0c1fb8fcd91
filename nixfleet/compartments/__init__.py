"""The dashboard side of compartments: `model` (values), `rules` (the pure function), `versions`, `records`,
`source` (what validation reads), `version_json` (the remote desired state) and `service` (keeps them current)."""
