"""What the tests and the benchmarks share: the sample webhook receivers, a private local Ray,
throwaway pipelines on the local services, the multinode run, the chaos suite and the fuzzer.

Nothing here imports `bench` or `tests`: both import this package, never the other way round.
"""
