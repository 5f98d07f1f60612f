"""Load benchmarks for Safe Share against a Litestar ceiling and snappass (issue 9)."""
