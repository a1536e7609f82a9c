"""Chaos suite: the pipeline under constant load while one thing at a time fails.

`python -m testkit.chaos` (make chaos) runs every scenario and writes bench/results/<date>-chaos.json;
tests/e2e/test_chaos.py runs a short version inside `make test`. Zero lost deliveries is the bar.
"""
