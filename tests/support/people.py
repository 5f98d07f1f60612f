"""Who is who in the tests: the same people everywhere, so a test reads the same as the next.

Staff are who the provider puts at prowise.com; customers are everyone else. The fixed names
make a failure easy to follow; a test that needs someone nobody else uses names them itself.
"""

from __future__ import annotations

from app.auth.identity import Role, User

STAFF = "alice@prowise.com"
OTHER_STAFF = "carol@prowise.com"
SERVICE_STAFF = "sam@prowise.com"  # in the `service` group when a test says so
AUDITOR = "audrey@prowise.com"  # in the `auditors` group when a test says so
CUSTOMER = "bob@example.com"
OTHER_CUSTOMER = "mallory@example.net"  # signed in, and neither creator nor recipient

# For the services' own tests, which take a signed-in person without the HTTP round trip.
STAFF_USER = User("s", STAFF, "Alice", Role.STAFF, frozenset(), None, None)
CUSTOMER_USER = User("c", CUSTOMER, "Bob", Role.CUSTOMER, frozenset(), None, None)
