"""Speed benchmarks of gan-demo: `python -m benchmarks.train_speed` (training throughput of the
project's loop against a plain reference loop) and `python -m benchmarks.serve_speed` (inference
latency, app round trips, cold start and a concurrent load test). Each prints a table and writes
JSON to benchmarks/results/; `--quick` is the few-iteration mode CI runs so they cannot rot."""
