"""The service around the engine: running monitors, scheduling, HTTP and metrics."""
