"""Comparing secrets (tags, password digests) in time that depends on the length only."""


def equal(a, b) -> bool:
    """a == b, without stopping at the first difference (a timing leak would give the secret away)."""
    if len(a) != len(b):
        return False
    diff = 0
    for i in range(len(a)):
        diff |= a[i] ^ b[i]
    return diff == 0
