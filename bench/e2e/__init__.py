"""The end-to-end benchmark against `make run` (`python -m bench.e2e`, make bench): the plan and
its bookkeeping (measure), what it puts into the platform (setup), the components' CPU and
memory (procs), and the results document (report)."""
