"""Key-shaped values for the benchmark corpora, made at run time from a seeded random source, so the
repository holds no key-shaped literal.  Standard library only; used by make-corpus.py and
make-history.py.  None of these values is a working credential: AWS never issued them.

Key IDs follow the layout AWS uses for current keys (DESIGN.md, "Account ID from a key ID"): a
4-character prefix, then 16 characters of RFC 4648 base32 that encode 10 bytes, the first 6 of
which carry the account ID in bits 46..7.  So `keywarden` decodes each planted key to the account
it was made for, and the account can be chosen clear of the canary-token accounts.
"""
import base64
import math
import os
import re

BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
SECRET_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+"

# Accounts of canary-token services: a key of one of them is reported as a canary, not as live, so
# a planted "live" key must never decode to one.  Drawing 200 accounts at random from 10^12 would
# hit one with odds of about 5e-9; the check makes it impossible.  The list is read from the page
# that documents it, so the corpus follows when the list grows.
_CANARY_PAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "docs", "canary-accounts.md")


def _canary_accounts():
    try:
        with open(_CANARY_PAGE, encoding="utf-8") as f:
            return frozenset(re.findall(r"\b\d{12}\b", f.read()))
    except OSError as e:
        raise SystemExit(f"synthetic.py: cannot read the canary accounts from {_CANARY_PAGE}: {e.strerror}") from e


_CANARY_ACCOUNTS = _canary_accounts()

# Words and shapes that mark a made-up value in the eyes of any scanner's placeholder test (a
# random body contains one with odds of about 1 in 10^4): a planted live key must not look made up.
_MADE_UP_WORDS = ("EXAMPLE", "XXXX", "FAKE", "DUMMY", "SAMPLE", "TEST", "PLACEHOLDER", "REDACTED")


def account_of(key_id):
    """The account ID a current-format key ID encodes, as 12 digits (DESIGN.md's decoding rule)."""
    raw = base64.b32decode(key_id[4:20])
    z = int.from_bytes(raw[:6], "big")
    return f"{(z & 0x7FFFFFFFFF80) >> 7:012d}"


def _entropy(text):
    counts = {}
    for c in text:
        counts[c] = counts.get(c, 0) + 1
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _longest_run(text, step):
    """Longest run of characters that each differ from the one before by step (0: repeats)."""
    best = run = 1
    for a, b in zip(text, text[1:]):
        run = run + 1 if ord(b) - ord(a) == step else 1
        best = max(best, run)
    return best


def looks_made_up(body):
    return (any(w in body.upper() for w in _MADE_UP_WORDS) or _longest_run(body, 0) >= 5
            or _longest_run(body, 1) >= 6 or _entropy(body) < 3.0)


def key_id(rng, prefix="AKIA", account=None):
    """A key ID with prefix whose body decodes to account (12 digits; random when None)."""
    while True:
        acct = account if account is not None else f"{rng.randrange(1, 10**12):012d}"
        if account is None and acct in _CANARY_ACCOUNTS:
            continue
        # 48 bits: bit 47 and bits 6..0 free, the account in between; then 32 free bits.
        z = (rng.getrandbits(1) << 47) | (int(acct) << 7) | rng.getrandbits(7)
        body = base64.b32encode(z.to_bytes(6, "big") + rng.getrandbits(32).to_bytes(4, "big")).decode("ascii")
        # A fifth character I or J marks the older format, whose account cannot be decoded this way.
        if body[0] in "IJ" or looks_made_up(body):
            continue
        return prefix + body


def secret(rng):
    """40 characters of [A-Za-z0-9/+] with both letter cases and a digit, as AWS's secrets have."""
    while True:
        s = "".join(rng.choice(SECRET_CHARS) for _ in range(40))
        if (any(c.isupper() for c in s) and any(c.islower() for c in s) and any(c.isdigit() for c in s)
                and not looks_made_up(s) and _entropy(s) >= 4.0):
            return s


def base32_run(rng, n, lower=False):
    s = "".join(rng.choice(BASE32) for _ in range(n))
    return s.lower() if lower else s
