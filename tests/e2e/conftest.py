"""End-to-end tier: the pipeline on Ray (the `ray_local` fixture in tests/conftest.py) against
the shared local services, each test in a namespace of its own."""
