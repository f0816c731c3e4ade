"""One module per METRICS.md section: pure functions of rollups → tidy polars frames."""
