"""What tests share, apart from fixtures (those stay in the conftest.py files).

- people: who is who (emails, and the same people as `User` values)
- services: the real services around the app: ports, PostgreSQL databases, Redis, processes
- apps: the app in-process: test settings, a running app on empty tables, clients, the clock
- flows: the protocol as a browser speaks it over HTTP: sign-in, CSRF, share, reveal, invite
- providers: the second identity provider (django-oidc-provider) and its login form
- browser: the Playwright side: set-ups, the site, people at the keyboard, database peeks

No test module imports another test module: what two of them need lives here.
"""
