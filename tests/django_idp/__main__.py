"""`python -m tests.django_idp PORT`: migrate a fresh database, then serve (one process)."""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.django_idp.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    call_command("runserver", f"127.0.0.1:{sys.argv[1]}", use_reloader=False, use_threading=True)
