"""Billing's facts and actions: the access rule, plans, the status answer, the billing page's summary,
Checkout and portal sessions, and the portal configuration (the page's words are the web's)."""
