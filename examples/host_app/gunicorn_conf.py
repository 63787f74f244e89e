"""gunicorn settings of the example host app (so that it does not load the service's gunicorn.conf.py)."""

workers = 1
worker_class = "gthread"
threads = 8
# The default control socket path is per user, and the service's gunicorn beside it already holds it.
control_socket_disable = True
# Close each connection after its answer: gunicorn 25.3's gthread worker otherwise waits out its
# whole graceful timeout (30 s) on stop for an idle keep-alive connection (the service's notifier keeps one).
keepalive = 0
