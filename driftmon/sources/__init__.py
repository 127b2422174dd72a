"""Data sources: where reference and live rows come from (files, SQL databases)."""
