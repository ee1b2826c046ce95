"""A tiny record function: counts the words of each record."""


def count_words(record: bytes) -> bytes:
    return str(len(record.split())).encode()
