"""gunicorn settings of the example host app (so that it does not load the service's gunicorn.conf.py)."""

workers = 1
worker_class = "gthread"
threads = 8
