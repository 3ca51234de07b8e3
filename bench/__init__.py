"""plantwatch benchmarks: `python -m bench` (or `make bench`); results in `bench/results/`."""
