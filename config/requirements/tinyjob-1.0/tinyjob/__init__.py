"""A dependency installed by pip, offline, from the example's wheel directory."""

VERSION = "1.0"


def shout(record: bytes) -> bytes:
    return record.upper()
