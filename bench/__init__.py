"""Benchmarks of newns against its peers: run `python -m bench` from the repository root."""
