"""Benchmarks: scripts run by hand (`python -m tests.benchmarks.<name>`), not pytest tests."""
