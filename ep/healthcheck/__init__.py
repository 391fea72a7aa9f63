"""OmniqOperator: the health check (checks, the blueprint, output formats)."""
