"""Plumbing both processes stand on: settings, the database and its models and migrations,
Redis and Stripe clients, the RQ queue, logs, time and strict parsing. Imports no other shared package."""
