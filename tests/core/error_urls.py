"""The project's URLs plus one view that fails, to see the 500 page (tests only)."""

from django.urls import path

from readerstudy.urls import urlpatterns as project_urlpatterns


def fail(request):
    raise RuntimeError("secret detail that must not reach the browser")


urlpatterns = [*project_urlpatterns, path("test-failure/", fail)]
