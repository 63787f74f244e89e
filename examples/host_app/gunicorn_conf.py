"""gunicorn settings of the example host app (so that it does not load the service's gunicorn.conf.py)."""

workers = 1
worker_class = "gthread"
threads = 8
# The default control socket path is per user, and the service's gunicorn beside it already holds it.
control_socket_disable = True
