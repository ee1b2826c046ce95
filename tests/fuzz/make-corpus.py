#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora into tests/fuzz/corpus/<target>/.

The seeds are committed; this script says how they were made and remakes them (the output
is deterministic: fixed times, no compression timestamps). Seeds are small on purpose:
libFuzzer mutates them, and a short input explores faster.
"""
import bz2
import gzip
import io
import lzma
import pathlib
import shutil
import stat
import tarfile
import zipfile

HERE = pathlib.Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
ROOT = HERE.parent.parent
MTIME = 1700000000


def zip_bytes(entries, method=zipfile.ZIP_DEFLATED):
    """entries: (name, data, mode) with the file type in mode; None mode = no Unix mode."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as z:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name, date_time=(2023, 11, 14, 22, 13, 20))
            info.compress_type = method
            if mode is not None:
                info.create_system = 3  # Unix: the mode lives in the external attributes
                info.external_attr = mode << 16
            else:
                info.create_system = 0
            z.writestr(info, data)
    return out.getvalue()


def tar_bytes(entries, compress=None):
    """entries: (name, data, mode[, link target]) with the file type in mode."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        for entry in entries:
            name, data, mode = entry[:3]
            info = tarfile.TarInfo(name)
            info.mtime = MTIME
            info.mode = stat.S_IMODE(mode)
            kind = stat.S_IFMT(mode)
            if kind == stat.S_IFDIR:
                info.type = tarfile.DIRTYPE
            elif kind == stat.S_IFLNK:
                info.type = tarfile.SYMTYPE
                info.linkname = data
            elif len(entry) > 3:
                info.type = tarfile.LNKTYPE
                info.linkname = entry[3]
            elif kind == stat.S_IFIFO:
                info.type = tarfile.FIFOTYPE
            elif kind == stat.S_IFCHR:
                info.type = tarfile.CHRTYPE
            if info.type == tarfile.REGTYPE:
                payload = data.encode() if isinstance(data, str) else data
                info.size = len(payload)
                t.addfile(info, io.BytesIO(payload))
            else:
                t.addfile(info)
    # tarfile pads to a 10 KiB record; two zero blocks end an archive just as well, and a
    # short seed mutates faster.
    data = raw.getvalue().rstrip(b"\0")
    data = data + b"\0" * (-len(data) % 512) + b"\0" * 1024
    if compress == "gz":
        return gzip.compress(data, mtime=0)
    if compress == "bz2":
        return bz2.compress(data)
    if compress == "xz":
        return lzma.compress(data)
    return data


F = stat.S_IFREG
D = stat.S_IFDIR
L = stat.S_IFLNK


def archives():
    yield "zip-basic.zip", zip_bytes([
        ("pkg/", b"", D | 0o755),
        ("pkg/__init__.py", b"x = 1\n", F | 0o644),
        ("pkg/tool", b"#!/bin/sh\necho hi\n", F | 0o755),
    ])
    yield "zip-stored.zip", zip_bytes([("a.txt", b"hello " * 20, F | 0o644)], zipfile.ZIP_STORED)
    yield "zip-no-unix-modes.zip", zip_bytes([("d/", b"", None), ("d/f", b"data", None)])
    yield "zip-symlink.zip", zip_bytes([
        ("venv/bin/python3", b"ELF", F | 0o755),
        ("venv/bin/python", "python3", L | 0o777),
        ("abs", "/usr/bin/python3", L | 0o777),
    ])
    yield "zip-link-then-file.zip", zip_bytes([
        ("a", "../sentinel", L | 0o777),
        ("a/evil", b"x", F | 0o644),
    ])
    yield "zip-traversal.zip", zip_bytes([("../sentinel/evil", b"x", F | 0o644)])
    yield "zip-setuid.zip", zip_bytes([("s", b"x", F | 0o4755)])
    yield "zip-bomb-small.zip", zip_bytes([("zeros", b"\0" * 65536, F | 0o644)])
    yield "tar-basic.tar", tar_bytes([
        ("pkg", "", D | 0o755),
        ("pkg/__init__.py", "x = 1\n", F | 0o644),
        ("pkg/ro", "", D | 0o555),
        ("pkg/ro/f", "data", F | 0o644),
    ])
    yield "tar-links.tar.gz", tar_bytes([
        ("f", "content", F | 0o644),
        ("h", "", F | 0o644, "f"),
        ("l", "f", L | 0o777),
        ("up", "../sentinel", L | 0o777),
    ], "gz")
    yield "tar-link-then-file.tar", tar_bytes([
        ("a", "../sentinel", L | 0o777),
        ("a/evil", "x", F | 0o644),
    ])
    yield "tar-traversal.tar.bz2", tar_bytes([("a/../../sentinel/evil", "x", F | 0o644)], "bz2")
    yield "tar-special.tar.xz", tar_bytes([
        ("fifo", "", stat.S_IFIFO | 0o644),
        ("dev", "", stat.S_IFCHR | 0o644),
    ], "xz")
    yield "tar-setuid.tar", tar_bytes([("d", "", D | 0o1777), ("d/s", "x", F | 0o6755)])
    yield "tar-file-then-dir.tar", tar_bytes([("a", "1", F | 0o644), ("a/b", "2", F | 0o644)])
    # Two gzip members, as `cat a.gz b.gz` makes them, and bytes after the last.
    members = tar_bytes([("a", "first", F | 0o644), ("b", "second", F | 0o644)])
    yield "tar-members.tar.gz", (gzip.compress(members[:700], mtime=0) +
                                 gzip.compress(members[700:], mtime=0) + b"trailing\n")


CONFIGS = {
    "flat.yaml": "python.executable: python3\npython.files: a.py, b.zip#lib\n",
    "archives.yaml": "python:\n  archives: [venv.zip#venv, data.tar.gz]\n"
                     "  executable: venv/bin/python\n",
    "pyenv-keys.yaml": "pyenv:\n  cache: {enabled: true, dir: /tmp/c, max-bytes: 10g}\n"
                       "  archive: {max-bytes: 16g, max-entries: 1000, symlinks: within}\n"
                       "  extract.threads: 4\n  pip: {timeout: 10min, attempts: 3}\n",
    "requirements.yaml": "python.requirements: req.txt#wheels\npython.pythonpath: /x:/y\n"
                         "python.execution-mode: process\npython.systemenv.enabled: false\n",
    "host-keys.yaml": "taskmanager.memory: 4g\nparallelism.default: 2\npython: ~\n",
    "anchors.yaml": "base: &b {executable: python3}\npython: *b\n",
    "unknown.yaml": "python.exectuable: python3\n",
}


def main():
    # Inputs that once crashed a target are kept as regress-* seeds, never remade.
    for target in CORPUS.glob("*"):
        for seed in target.glob("*"):
            if not seed.name.startswith("regress-"):
                seed.unlink()
    archive_dir = CORPUS / "archive_fuzz"
    archive_dir.mkdir(parents=True, exist_ok=True)
    for name, data in archives():
        (archive_dir / name).write_bytes(data)

    config_dir = CORPUS / "config_fuzz"
    config_dir.mkdir(parents=True, exist_ok=True)
    for path in sorted((ROOT / "config").glob("*.yaml")):
        shutil.copyfile(path, config_dir / ("example-" + path.name))
    for name, text in CONFIGS.items():
        (config_dir / name).write_text(text)

    # The JSON target reads its input through FuzzedDataProvider: any bytes are a seed.
    json_dir = CORPUS / "json_fuzz"
    json_dir.mkdir(parents=True, exist_ok=True)
    seeds = {
        "ascii": b"\x01PYTHONPATH\\/a:/b\\python3\\/usr\\",
        "escapes": b"\x00\"quoted\\\" and \\\\ back\\slash\n\t\r\x01\x1f\x7f",
        "utf8": "caf\u00e9 \u2603 \U0001f600 \uffff".encode(),
        "invalid-utf8": b"\xff\xfe\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80\xe2\x82",
        "many-vars": b"\x05" + b"".join(b"K%d\\V%d\\" % (i, i) for i in range(20)),
    }
    for name, data in seeds.items():
        (json_dir / name).write_bytes(data)


if __name__ == "__main__":
    main()
