"""URL configuration."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.urls import include, path, reverse_lazy
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from readerstudy.accounts import views as accounts_views
from readerstudy.accounts.forms import RateLimitedAuthenticationForm
from readerstudy.core import views as core_views
from readerstudy.studies import workstation_views

urlpatterns = [
    path("", core_views.home, name="home"),
    path("healthz", core_views.healthz, name="healthz"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(authentication_form=RateLimitedAuthenticationForm),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # One-time links a coordinator hands to a new reader (console); Django's reset-token views.
    path(
        "accounts/set-password/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            template_name="registration/set_password.html",
            success_url=reverse_lazy("password-setup-done"),
        ),
        name="password-setup",
    ),
    path(
        "accounts/set-password/done/",
        auth_views.PasswordResetCompleteView.as_view(
            template_name="registration/set_password_done.html"
        ),
        name="password-setup-done",
    ),
    path("console/", include("readerstudy.console.urls")),
    path("cohorts/", include("readerstudy.cohorts.urls")),
    path("studies/", include("readerstudy.studies.urls")),
    path("reading/<int:study_id>/", workstation_views.workstation_view, name="workstation"),
    path("models/", include("readerstudy.aimodels.urls")),
    path("studies/", include("readerstudy.results.urls")),
    path("api/v1/", include("readerstudy.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Swagger UI from local static files; its init script is a separate URL (no inline script).
    path(
        "api/docs/",
        login_required(SpectacularSwaggerSplitView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
    path("accounts/token/", accounts_views.api_token_view, name="api-token"),
    path("reading/", include("readerstudy.studies.reading_urls")),
    path("admin/", admin.site.urls),
]
