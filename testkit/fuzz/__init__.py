"""Bad input at volume: thousands of hostile requests against ingest and management; only 2xx
and 4xx answers may come back, and the service must still answer afterwards (`python -m testkit.fuzz`)."""
