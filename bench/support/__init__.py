"""Shared parts of the benchmarks (not benchmarks themselves)."""
