"""Benchmarks: speed, memory and quality measured side by side on this machine, results committed as JSON."""
