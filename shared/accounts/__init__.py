"""Accounts: creating users and checking passwords, server-side sessions, and the sign-in throttle."""
