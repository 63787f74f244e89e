"""The worker process: applies webhook deliveries from Redis to the database."""
