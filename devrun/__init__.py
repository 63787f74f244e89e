"""The one-command development run: sandbox (or Stripe), Redis, web and worker."""
