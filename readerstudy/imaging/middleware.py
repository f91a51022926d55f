"""CORS for the DICOMweb service only, so that a viewer served from another origin (OHIF) can
call it with a token. Origins must be listed (DICOMWEB_CORS_ORIGINS); credentials (cookies) are
never allowed cross-origin, only the Authorization header."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

PREFIX = "/api/v1/dicomweb/"


class DicomwebCorsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        origin = request.headers.get("Origin", "")
        allowed = request.path.startswith(PREFIX) and origin in settings.DICOMWEB_CORS_ORIGINS
        if allowed and request.method == "OPTIONS":
            response = HttpResponse(status=204)  # the preflight carries no credentials
            response["Access-Control-Allow-Methods"] = "GET, OPTIONS"
            response["Access-Control-Allow-Headers"] = "Authorization, Accept"
            response["Access-Control-Max-Age"] = "3600"
        else:
            response = self.get_response(request)
        if allowed:
            response["Access-Control-Allow-Origin"] = origin
            response["Access-Control-Expose-Headers"] = "Content-Type, Content-Length, Warning"
            response["Vary"] = "Origin"
        return response
