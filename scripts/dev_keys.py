"""Print random development keys (`make dev-keys` writes them to .run/dev-keys, which
config/settings.py reads): a SECRET_KEY and a Fernet FIELD_ENCRYPTION_KEY of this checkout,
so `make run` and `make test` work with DEBUG off and nothing published is ever a key."""

import base64
import os
import secrets

print(f"SECRET_KEY={secrets.token_urlsafe(48)}")
print(f"FIELD_ENCRYPTION_KEY={base64.urlsafe_b64encode(os.urandom(32)).decode()}")
