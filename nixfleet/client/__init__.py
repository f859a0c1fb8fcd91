"""The NixFleet API client and the `nixfleet` sub-commands that use it (hosts, ops, pipeline, commands, events).

`api.ApiClient` wraps `/api` (httpx), `follow.SyncFollower` follows a run over `/api/sync`, `runs` starts ops and
pipelines and streams their per-host output, `views` prints everything else, `tokens` is `nixfleet token` in API
mode, and `cli` registers the sub-commands.
"""
