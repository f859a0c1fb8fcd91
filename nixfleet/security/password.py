"""The admin password check: the configured bcrypt hash against what the login form sent."""

from __future__ import annotations

import bcrypt


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password against the configured bcrypt hash (constant time; False on any malformed input)."""
    if not password_hash or not password:
        return False
    try:
        return bcrypt.checkpw(password.encode('utf-8', 'surrogatepass'), password_hash.encode())
    except ValueError:  # malformed hash, or a password longer than bcrypt's 72 bytes
        return False
