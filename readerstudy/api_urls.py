"""The versioned API, /api/v1/: each app contributes its own routes (one include per app)."""

from django.urls import URLPattern, URLResolver, include, path

urlpatterns: list[URLPattern | URLResolver] = [
    path("", include("readerstudy.results.api_urls")),
]
