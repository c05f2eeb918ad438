"""gunicorn settings for production: `gunicorn powerclimate.wsgi` picks this file up.

Workers x threads as recommended in the README and measured in docs/performance.md. The
access log is off: survey URLs carry invitation tokens and client addresses must not be kept.
"""

import multiprocessing
import os

bind = os.getenv("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.getenv("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2))
threads = int(os.getenv("GUNICORN_THREADS", "4"))
worker_class = "gthread"
# No keep-alive by default. A gthread worker keeps every connection it accepted, so with
# keep-alive a few busy clients (or a proxy's pooled connections) pile up on one worker, whose
# requests then wait on its one interpreter while the others idle. Without it each request goes
# to whichever worker accepts it first: at 16 concurrent respondents on 2 cores the p99 went
# from 1,089 ms to 129 ms (docs/performance.md). A proxy in front keeps the clients' own
# connections alive.
keepalive = int(os.getenv("GUNICORN_KEEPALIVE", "0"))
max_requests = int(os.getenv("GUNICORN_MAX_REQUESTS", "5000"))
max_requests_jitter = 500
timeout = int(os.getenv("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
accesslog = None
errorlog = "-"
loglevel = os.getenv("GUNICORN_LOG_LEVEL", "warning")
# Request limits: refuse oversized request lines and headers early.
limit_request_line = 8190
limit_request_fields = 100
