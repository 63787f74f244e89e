"""The one-command development run: sandbox (or Stripe), Redis, web, worker and the example host app."""
