"""The op engine (docs/architecture.md#ops): op registry, dispatch, command lifecycle and pipelines.

`OpEngine` (nixfleet.ops.engine) is the one surface UI, API and CLI use: `dispatch`, `start_pipeline`,
`wait_command` / `kill_command` / `ignore_command` / `cancel_command`, `read_output`, and the queries.
"""
