"""Billing as the pages and the API see it: the access rule, plans, the status answer and summary,
Checkout and portal sessions, and the portal configuration."""
