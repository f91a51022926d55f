"""Reader-study platform: Django project, Celery app and the reader-study domain.

The Celery app is imported lazily by ``readerstudy.celery``; importing this package does not
configure Django, so plain-Python subpackages (``readerstudy.synthetic``) work without it.
"""
