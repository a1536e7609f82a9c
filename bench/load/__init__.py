"""The load scenario: `python -m bench.load.send_events` runs k6 when it is installed, otherwise
locust (ramp, closed model) or `open_loop` (fixed rate, open model). See `--help`."""
