"""Offline Stripe sandbox: API, hosted pages and signed webhooks, for tests.

Start one in-process with ``stripe_sandbox.server.run_in_thread()`` or from a
shell with ``python -m stripe_sandbox``.
"""
