"""What an operator sees: logs, Prometheus metrics, and the health endpoints."""
