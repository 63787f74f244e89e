"""Benchmarks: webhook ingest (gunicorn + wrk) and event apply (real workers).

Run ``.venv/bin/python -m bench.run [ingest|apply|all] [--quick]``; results
and how to read them are in docs/benchmarks.md.
"""
