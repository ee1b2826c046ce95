# Run by build-cpython.sh with the interpreter of a freshly unpacked archive:
#   <root>/bin/python3.X[t] -I verify.py <root> <X.Y> <gil|freethreaded|static>
# Checks what the embedding tests rely on: the interpreter runs from wherever the archive was
# unpacked (prefix and libpython both inside it), it is the version and flavour it claims,
# and the parts of the standard library the tests use work. Must run on every version built
# (3.9 and later), so no newer syntax. Prints one summary line, or why it failed (exit 1).
import json
import os
import sys
import sysconfig
import threading
import traceback

root, minor, flavour = sys.argv[1], sys.argv[2], sys.argv[3]
problems = []


def check(ok, what):
    if not ok:
        problems.append(what)


real_root = os.path.realpath(root)
version = "%d.%d" % sys.version_info[:2]
check(version == minor, "version is %s, expected %s" % (version, minor))
check(os.path.realpath(sys.prefix) == real_root,
      "sys.prefix is %s, expected the unpacked directory %s" % (sys.prefix, real_root))
check(os.path.realpath(sys.base_prefix) == real_root,
      "sys.base_prefix is %s, expected %s" % (sys.base_prefix, real_root))

# The libpython mapped into this process must be the archive's own: a RUNPATH that did not
# work, or one that named the build directory, would load another copy or none.
with open("/proc/self/maps") as maps:
    # The path is the sixth field and may hold spaces.
    mapped = sorted({line.split(None, 5)[5].rstrip("\n") for line in maps if "/libpython" in line})
suffix = "t" if flavour == "freethreaded" else ""
expected_lib = os.path.join(real_root, "lib", "libpython%s%s.so.1.0" % (minor, suffix))
expected = [] if flavour == "static" else [expected_lib]
check([os.path.realpath(p) for p in mapped] == expected,
      "libpython mapped from %s, expected %s" % (mapped, expected or "none (a static build)"))

gil_disabled = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
check(gil_disabled == (flavour == "freethreaded"),
      "sysconfig Py_GIL_DISABLED is %r for a %s build"
      % (sysconfig.get_config_var("Py_GIL_DISABLED"), flavour))
gil_enabled = sys._is_gil_enabled() if hasattr(sys, "_is_gil_enabled") else True
if flavour == "freethreaded":
    check(not gil_enabled, "sys._is_gil_enabled() is True in a free-threaded build")

# json and traceback round trips, and threads that really run: what the tests call.
check(json.loads(json.dumps({"a": [1, 2.5, None]})) == {"a": [1, 2.5, None]}, "json round trip")
try:
    raise ValueError("probe")
except ValueError:
    check("ValueError: probe" in traceback.format_exc(), "traceback.format_exc()")
results = [0] * 4


def work(i):
    results[i] = sum(range(1000 * (i + 1)))


threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
check(results == [sum(range(1000 * (i + 1))) for i in range(4)], "threads computed %r" % results)

# Extension modules built from the -dev packages packaging/install-deps.sh installs: one
# missing means that script lacks a package, and environments built here would lack it too.
for name in ("zlib", "_ctypes", "_bz2", "_lzma", "_json", "_struct", "math", "select"):
    try:
        __import__(name)
    except ImportError as e:
        problems.append("cannot import %s: %s" % (name, e))

if problems:
    print("verify: " + "; ".join(problems))
    sys.exit(1)
print("verify: Python %s (%s, GIL %s) runs from %s with its own libpython"
      % (sys.version.split()[0], flavour, "enabled" if gil_enabled else "disabled", root))
