"""A second, independently written OIDC provider for the sign-in suite: django-oidc-provider in
a minimal Django project, run as a subprocess (`python -m tests.django_idp PORT`) and
reconfigured per test case through its `/_test/` endpoints (see `control.py`).
"""
