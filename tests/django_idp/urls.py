from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path

from tests.django_idp import control

urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("_test/configure", control.configure),
    path("_test/state", control.state),
    re_path(r"^\.well-known/openid-configuration/?$", control.discovery),
    path("", include("oidc_provider.urls", namespace="oidc_provider")),
]
