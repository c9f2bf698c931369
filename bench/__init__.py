"""Benchmarks, run as `python -m bench <subcommand>`; they print numbers, they assert nothing."""
