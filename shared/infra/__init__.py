"""Plumbing both processes stand on: settings, the database with its models, migrations and multi-row
statements, Redis and Stripe clients, the RQ queue, logs, time, strict parsing and the shared errors.
Imports no other shared package."""
