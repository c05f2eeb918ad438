"""WSGI entry point: `gunicorn powerclimate.wsgi`."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "powerclimate.settings")

application = get_wsgi_application()
