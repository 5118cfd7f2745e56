"""Benchmarks (``make bench``): cost per daily step against exchanges per day, the
single-node peer (DuckDB), hub stress and profiling. See ``docs/benchmarks.md``."""
