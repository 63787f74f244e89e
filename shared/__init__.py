"""Code both processes load, in five packages: infra at the bottom; sync, billing, accounts and ops on it.

Each of sync, billing, accounts and ops imports only infra, and nothing here
imports Flask, the web or the worker (tests/test_layout.py).
"""
