"""Re-encrypt stored tokens under the current OFFAMAZON_SECRET_KEY: `python -m offamazon_ui.rotate_keys`.

Rotating the secret key without downtime (every step keeps every instance working):

1. Give every instance the new key as an extra key, keeping the old one current:
   OFFAMAZON_PREVIOUS_SECRET_KEYS=<new>. Now all of them can read what the new key writes.
2. Make the new key current: OFFAMAZON_SECRET_KEY=<new>, OFFAMAZON_PREVIOUS_SECRET_KEYS=<old>.
   New tokens, sessions and codes use the new key; old ones still decrypt and match.
3. Run this command (`make rotate-key`) once, against the same database and settings.
   It is safe while the app runs and safe to run again.
4. After 7 days (the longest a session lives), remove the old key from
   OFFAMAZON_PREVIOUS_SECRET_KEYS. Sessions, one-time codes and OAuth states are
   stored as keyed hashes, which cannot be re-keyed; they expire within that time.
   Authenticator recovery codes are hashed too and do not expire: keep the old key
   until their owners have generated new ones.

Exits with status 1 when some stored value cannot be decrypted with any configured key.
"""

from __future__ import annotations

import sys

from offamazon_ui.config import ConfigError, get_settings
from offamazon_ui.services.keyrotation import rotate_stored_tokens


def main() -> int:
    try:
        settings = get_settings()
    except ConfigError as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        return 2
    if not settings.previous_secret_keys:
        print(
            "Note: OFFAMAZON_PREVIOUS_SECRET_KEYS is empty, so only values already under the current key are readable."
        )
    report = rotate_stored_tokens()
    for name, counts in report.columns.items():
        line = f"{name}: {counts.rotated} re-encrypted, {counts.already_current} already current"
        if counts.unreadable:
            line += f", {len(counts.unreadable)} unreadable (ids {', '.join(map(str, counts.unreadable[:20]))})"
        print(line)
    if report.unreadable:
        print(
            "Some values cannot be decrypted with OFFAMAZON_SECRET_KEY or OFFAMAZON_PREVIOUS_SECRET_KEYS. "
            "Add the key they were written with to OFFAMAZON_PREVIOUS_SECRET_KEYS and run this again, "
            "or have those merchants reconnect.",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
