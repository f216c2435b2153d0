"""Entry points: the CLI, the Functions triggers, the runtime wiring, scope scans."""
