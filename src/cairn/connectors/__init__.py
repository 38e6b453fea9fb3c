"""Connectors: MCP servers named in agents.md (`connectors:`), their tools offered to tasks
under the same rules, approvals, scopes and sensitivity as the workspace's own tools
(docs/connectors.md).

`hub` runs the servers (started on first use, shared by the process's tasks and
automations); `tools` turns their tools into the task loop's `Tool`s.
"""
