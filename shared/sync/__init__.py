"""Keeping the database in step with Stripe: the webhook inbox, event shapes, the batch apply with its
ledger, locked rows and ordering rule, readers of Stripe objects, reconcile (sync), return sync and replay."""
