"""Code both processes load: settings, database, models, Stripe client and billing rules.

Nothing here imports Flask or the worker.
"""
