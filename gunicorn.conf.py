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
