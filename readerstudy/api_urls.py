"""The versioned API, /api/v1/: each app contributes its own routes (one include per app)."""

from django.urls import URLPattern, URLResolver, include, path

urlpatterns: list[URLPattern | URLResolver] = [
    path("", include("readerstudy.studies.api_urls")),
    path("", include("readerstudy.imaging.api_urls")),
    path("models/", include("readerstudy.aimodels.api_urls")),
    path("", include("readerstudy.results.api_urls")),
]
