"""WSGI entry point (gunicorn readerstudy.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "readerstudy.settings")

application = get_wsgi_application()

# Django imports the URL configuration (and with it the statistics and plotting libraries, a few
# seconds on a small machine) on the first request; a worker does it while it boots instead, so
# no reader's first request waits for it.
url_patterns_loaded_at_boot = get_resolver().url_patterns
