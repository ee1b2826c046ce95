#!/usr/bin/env bash
# Builds real, relocatable CPython interpreters from Debian's own source packages and packs
# each as an environment archive, so that libpyenv is tested against the Pythons jobs bring
# (3.9, 3.13 and free-threaded 3.13t), not only the machine's own 3.11, and a 3.13 without a
# shared libpython (3.13s: pyenv's and many static builds' default; it has nothing to embed,
# so only process mode can run it):
#
#   tests/python/cpython/build-cpython.sh [--only 3.9|3.13|3.13t|3.13s]... [--jobs N]
#
# Results, in the cache directory ${PYENV_CPYTHON_CACHE:-/var/cache/pyenv/cpython}:
#   <name>/          the install tree (cpython-3.9, cpython-3.13, cpython-3.13t, cpython-3.13s)
#   <name>.tar.gz    the same tree as an environment archive: bin/python3.X[t],
#                    lib/libpython3.X[t].so.1.0, lib/python3.X[t]/ at its root
#   manifest.tsv     one line per build: version, flavour (gil|freethreaded|static), archive,
#                    executable relative to the archive root, install tree
#   logs/<name>.log  the last build's configure/make output
# A build is reused while the Debian source version and this directory's files (their hash)
# are unchanged; otherwise it is rebuilt. Readers that must not see a rebuild in progress
# take a shared lock on <cache>/lock (`flock -s`); this script holds it exclusively.
#
# Why this way:
# - Sources: `apt-get source --download-only` from bullseye (python3.9) and trixie
#   (python3.13), with an apt state of our own under <cache>/apt (sources list, state, cache,
#   preferences), so the machine's apt configuration is never changed. The mirror is read
#   at run time from the machine's apt sources (PYENV_CPYTHON_MIRROR overrides it), so no
#   host name is written into the repository. The source indexes are checked against
#   Debian's archive keyring (/usr/share/keyrings/debian-archive-keyring.gpg signs both
#   suites), by apt and again by gpgv; apt checks every downloaded file against them.
# - Upstream code only: the .orig tarball is built without Debian's patches. Those adapt
#   CPython to Debian's layout (dist-packages, multiarch paths, the deb_system install
#   scheme, modules split into other packages), which is not what a relocatable
#   interpreter in an environment archive looks like (python.org, conda and uv builds are
#   upstream builds too).
# - Relocatable: --enable-shared with RUNPATH $ORIGIN/../lib, so bin/python3.X finds its
#   libpython wherever the archive is unpacked, and CPython finds its prefix from the
#   executable. The configured prefix, /opt/pyenv-relocatable/<name>, exists nowhere, so a
#   consumer that wrongly trusts sysconfig's baked paths fails instead of silently using
#   the cache's copy.
# - Lean, because CI builds all three on a fresh 2-core machine: no PGO/LTO, no test
#   modules, no static libpython, debug info stripped; -j2 unless --jobs says otherwise.
# - The cache directory is trusted only as libpyenv trusts its own (DESIGN.md 5.4): a real
#   directory, owned by the running user, not writable by group or others.
set -euo pipefail
umask 022

here="$(cd "$(dirname "$0")" && pwd -P)"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
# name  X.Y  flavour  suite  source package  extra configure options
builds=(
  "cpython-3.9   3.9  gil          bullseye python3.9"
  "cpython-3.13  3.13 gil          trixie   python3.13"
  "cpython-3.13t 3.13 freethreaded trixie   python3.13 --disable-gil"
  "cpython-3.13s 3.13 static       trixie   python3.13"
)

die() {
  echo "build-cpython: $*" >&2
  exit 1
}

# apt's output names the mirror (in URIs, and bare in errors such as "Could not resolve");
# what this script prints never does, so that a log pasted into a note or an issue carries
# no host name.
mirror_host=""
mask_hosts() {
  sed -E 's#([a-z+]+://)[^/[:space:]'"'"'"]+#\1<mirror>#g' |
    awk -v host="$mirror_host" 'host != "" {
      while ((i = index($0, host)) > 0) $0 = substr($0, 1, i - 1) "<mirror>" substr($0, i + length(host))
    } { print }'
}

# Seconds since a `date +%s.%N` reading, with one decimal.
since() {
  awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1fs", b - a }'
}

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
  exit "${1:-0}"
}

only=()
jobs=2
while [ $# -gt 0 ]; do
  case "$1" in
    --only)
      [ $# -ge 2 ] || die "--only needs a version: 3.9, 3.13, 3.13t or 3.13s"
      case "$2" in 3.9 | 3.13 | 3.13t | 3.13s) only+=("cpython-$2") ;;
        *) die "--only $2: unknown build (3.9, 3.13, 3.13t or 3.13s)" ;; esac
      shift 2
      ;;
    --jobs)
      if [ $# -lt 2 ] || ! [[ "$2" =~ ^[1-9][0-9]{0,2}$ ]]; then
        die "--jobs needs a number from 1 to 999"
      fi
      jobs="$2"
      shift 2
      ;;
    -h | --help) usage 0 ;;
    *) echo "build-cpython: unknown argument: $1" >&2 && usage 2 >&2 ;;
  esac
done

for tool in apt-get gpgv gcc make tar gzip readelf strip flock sha256sum; do
  command -v "$tool" >/dev/null ||
    die "$tool is missing: run packaging/install-deps.sh (it installs what this script needs)"
done
[ -r "$keyring" ] || die "$keyring is missing (Debian package debian-archive-keyring)"

# --- The cache directory ------------------------------------------------------------------
cache="${PYENV_CPYTHON_CACHE:-/var/cache/pyenv/cpython}"
case "$cache" in /*) ;; *) die "PYENV_CPYTHON_CACHE=$cache: must be an absolute path" ;; esac
if [ ! -e "$cache" ] && [ ! -L "$cache" ]; then
  # shellcheck disable=SC2174 # the mode is the cache's; parents are ordinary directories
  if ! mkdir -p -m 0755 "$cache" 2>/dev/null; then
    # /var/cache needs root to create the directory once; it then belongs to the user.
    if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null; then
      sudo install -d -m 0755 -o "$(id -u)" -g "$(id -g)" "$cache" ||
        die "cannot create $cache (set PYENV_CPYTHON_CACHE to a directory of yours)"
    else
      die "cannot create $cache (set PYENV_CPYTHON_CACHE to a directory of yours)"
    fi
  fi
fi
check_trusted_dir() {
  local dir="$1" owner mode
  [ ! -L "$dir" ] || die "$dir is a symbolic link; the cache must be a real directory"
  [ -d "$dir" ] || die "$dir is not a directory"
  owner="$(stat -c %u "$dir")"
  mode="$(stat -c %a "$dir")"
  [ "$owner" = "$(id -u)" ] ||
    die "$dir belongs to uid $owner, not to you (uid $(id -u)): another user could change" \
      "the interpreters built there; remove it or set PYENV_CPYTHON_CACHE"
  if (((8#$mode & 8#022) != 0)); then
    die "$dir is writable by group or others (mode $mode): chmod go-w it, or set PYENV_CPYTHON_CACHE"
  fi
}
check_trusted_dir "$cache"
# Pin the directory that was checked: from here on the script works inside it, and checks
# that the directory it stands in is the one the path named.
cd "$cache"
check_trusted_dir .
[ "$(stat -c %d:%i .)" = "$(stat -c %d:%i "$cache")" ] || die "$cache changed while being checked"
cache="$(pwd -P)"

exec 9>>"$cache/lock"
if ! flock -n 9; then
  echo "build-cpython: waiting for another run to release $cache/lock"
  flock 9
fi
# Under the lock, anything a run leaves while working is a crashed run's.
rm -rf "$cache"/.build-* "$cache"/sources/.download-*

mkdir -p "$cache/logs" "$cache/sources"

# The builds are keyed by this directory's content, helpers included.
script_hash="$(cd "$here" && find . -maxdepth 1 -type f -print0 | sort -z |
  xargs -0 sha256sum | sha256sum | cut -c1-16)"

selected=()
for spec in "${builds[@]}"; do
  read -r name _ <<<"$spec"
  if [ ${#only[@]} -eq 0 ] || [[ " ${only[*]} " == *" $name "* ]]; then
    selected+=("$spec")
  fi
done

# --- The Debian mirror and our own apt state ----------------------------------------------
# The machine's main Debian archive: an http(s) or file URI from a deb/deb-src entry for
# this release's codename (not -security or -updates) with component main, signed by
# Debian's keyring or not configured with a keyring at all (third-party repositories are).
find_mirror() {
  if [ -n "${PYENV_CPYTHON_MIRROR:-}" ]; then
    echo "$PYENV_CPYTHON_MIRROR"
    return
  fi
  local codename=""
  if [ -r /etc/os-release ]; then
    # shellcheck disable=SC1091 # the machine's, read at run time
    codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
  fi
  {
    for f in /etc/apt/sources.list.d/*.sources; do
      [ -f "$f" ] || continue
      awk -v codename="$codename" '
        function has(list, word) { return (" " list " ") ~ (" " word " ") }
        function flush(   n, u, i) {
          if ((has(types, "deb") || has(types, "deb-src")) && tolower(enabled) != "no" &&
              has(comps, "main") && (codename == "" || has(suites, codename)) &&
              (signed == "" || signed ~ /debian-archive-keyring/)) {
            n = split(uris, u, " ")
            for (i = 1; i <= n; i++) if (u[i] ~ /^(https?|file):/) { print u[i]; break }
          }
          types = uris = suites = comps = signed = enabled = field = ""
        }
        /^[ \t]*#/ { next }
        /^[ \t]*$/ { flush(); next }
        /^[ \t]/ { if (field == "uris") uris = uris " " $0; next }
        {
          i = index($0, ":"); field = tolower(substr($0, 1, i - 1)); value = substr($0, i + 1)
          if (field == "types") types = value
          else if (field == "uris") uris = value
          else if (field == "suites") suites = value
          else if (field == "components") comps = value
          else if (field == "signed-by") signed = value
          else if (field == "enabled") { enabled = value; gsub(/[ \t]/, "", enabled) }
        }
        END { flush() }' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
      [ -f "$f" ] || continue
      awk -v codename="$codename" '
        $1 != "deb" && $1 != "deb-src" { next }
        {
          i = 2; opts = ""
          if ($2 ~ /^\[/) { while (i < NF && $i !~ /\]$/) { opts = opts " " $i; i++ }; opts = opts " " $i; i++ }
          if ($i !~ /^(https?|file):/) next
          if (codename != "" && $(i + 1) != codename) next
          main = 0; for (j = i + 2; j <= NF; j++) if ($j == "main") main = 1
          if (!main) next
          if (opts ~ /signed-by=/ && opts !~ /debian-archive-keyring/) next
          print $i
        }' "$f"
    done
  } | sed 's#/*$##' | head -n 1
}

apt_root="$cache/apt"
mkdir -p "$apt_root/etc/sources.list.d" "$apt_root/etc/preferences.d" \
  "$apt_root/state/lists/partial" "$apt_root/cache/archives/partial"
# Everything apt reads or writes about sources, indexes and pins is ours; the machine's
# apt.conf.d still applies (it is how this machine reaches its mirror: proxies, snapshot
# validity), except that nothing there may weaken the signature checks.
apt_opts=(
  -o "Dir::State=$apt_root/state"
  -o "Dir::Cache=$apt_root/cache"
  -o "Dir::Etc::SourceList=$apt_root/etc/sources.list"
  -o "Dir::Etc::SourceParts=$apt_root/etc/sources.list.d"
  -o "Dir::Etc::Preferences=$apt_root/etc/preferences"
  -o "Dir::Etc::PreferencesParts=$apt_root/etc/preferences.d"
  -o "Acquire::AllowInsecureRepositories=false"
  -o "Acquire::AllowDowngradeToInsecureRepositories=false"
  -o "APT::Get::AllowUnauthenticated=false"
)

mirror="$(find_mirror)"
[ -n "$mirror" ] || die "no Debian mirror found in /etc/apt/sources.list or" \
  "/etc/apt/sources.list.d (a deb or deb-src entry for this release with component main);" \
  "set PYENV_CPYTHON_MIRROR to the URI of a Debian archive mirror"
mirror_host="$(echo "$mirror" | sed -nE 's#^[a-z+]+://([^@/]*@)?([^/:]+).*#\2#p')"
mirror_from="the machine's Debian mirror"
[ -z "${PYENV_CPYTHON_MIRROR:-}" ] || mirror_from="PYENV_CPYTHON_MIRROR"
suites="$(for spec in "${selected[@]}"; do read -r _ _ _ suite _ <<<"$spec"; echo "$suite"; done |
  sort -u | paste -sd ' ')"
: >"$apt_root/etc/sources.list.new"
for suite in $suites; do
  echo "deb-src [signed-by=$keyring] $mirror $suite main" >>"$apt_root/etc/sources.list.new"
done
mv "$apt_root/etc/sources.list.new" "$apt_root/etc/sources.list"

download_start=$(date +%s.%N)
echo "build-cpython: refreshing the source index of $suites from $mirror_from"

if ! apt-get "${apt_opts[@]}" -q update --error-on=any >"$cache/logs/apt-update.log" 2>&1; then
  mask_hosts <"$cache/logs/apt-update.log" | tail -20 >&2
  die "apt-get update failed for deb-src $suites (above): the network or the mirror is" \
    "unreachable, the mirror has no such suite or sources, or a signature did not verify" \
    "with $keyring"
fi
# apt verified the indexes; verify again here, independently of any apt.conf.d setting.
for suite in $suites; do
  signed_index="$(find "$apt_root/state/lists" -maxdepth 1 -name "*_dists_${suite}_InRelease" | head -n 1)"
  [ -n "$signed_index" ] || die "no InRelease file for $suite in $apt_root/state/lists"
  gpgv --keyring "$keyring" "$signed_index" >"$cache/logs/gpgv-$suite.log" 2>&1 ||
    die "the $suite index does not verify with $keyring (see $cache/logs/gpgv-$suite.log)"
done

# The Debian source version of each package decides whether a build is reused.
declare -A dsc_of=()
for spec in "${selected[@]}"; do
  read -r _ _ _ suite package _ <<<"$spec"
  [ -z "${dsc_of[$package]:-}" ] || continue
  uris="$(apt-get "${apt_opts[@]}" -qq source --print-uris "$package/$suite" 2>&1)" ||
    die "no source package $package in $suite: $(echo "$uris" | mask_hosts | tail -3)"
  dsc="$(echo "$uris" | awk '$2 ~ /\.dsc$/ { print $2; exit }')"
  [ -n "$dsc" ] || die "apt-get source --print-uris $package/$suite named no .dsc file"
  dsc_of[$package]="$dsc"
done

# Downloads a source package once into <cache>/sources/<package>_<version>/ and checks
# the upstream tarball against the .dsc (whose hash apt checked against the signed index).
fetch_source() {
  local package="$1" suite="$2" dsc="$3" dir="$cache/sources/${3%.dsc}" tmp start
  if [ ! -f "$dir/$dsc" ]; then
    start=$(date +%s.%N)
    tmp="$(mktemp -d "$cache/sources/.download-XXXXXX")"
    chmod 0755 "$tmp"

    # As root apt would drop to the _apt user, which cannot write into our directory, and
    # then downloads as root anyway, with a warning; say so up front.
    local sandbox=()
    [ "$(id -u)" -ne 0 ] || sandbox=(-o APT::Sandbox::User=root)
    if ! (cd "$tmp" && apt-get "${apt_opts[@]}" "${sandbox[@]}" -q source --download-only \
      "$package/$suite") >"$cache/logs/apt-source-$package.log" 2>&1; then
      mask_hosts <"$cache/logs/apt-source-$package.log" | tail -20 >&2
      die "apt-get source --download-only $package/$suite failed (above)"
    fi
    [ -f "$tmp/$dsc" ] || die "apt-get source $package/$suite did not download $dsc"
    rm -rf "${cache:?}/sources/${package}_"*
    mv "$tmp" "$dir"
    echo "build-cpython: downloaded ${dsc%.dsc} ($(du -sm "$dir" | cut -f1) MB) in $(since "$start")"
  fi
  local sum file
  read -r sum file < <(awk '/^Checksums-Sha256:/ { f = 1; next } /^[^ ]/ { f = 0 }
    f && $3 ~ /\.orig\.tar\.(gz|xz|bz2)$/ { print $1, $3; exit }' "$dir/$dsc")
  [ -n "${file:-}" ] || die "$dir/$dsc names no .orig tarball"
  echo "$sum  $dir/$file" | sha256sum -c --quiet - >/dev/null 2>&1 ||
    die "$dir/$file does not match the SHA-256 in $dsc: remove $dir and run again"
  orig="$dir/$file"
}

# Runs one step of a build with its output in the build's log; on failure prints the log's
# tail and ends the build's subshell.
step() {
  local what="$1" rc=0 start
  shift
  start=$(date +%s.%N)
  echo "=== $what: $*" >>"$log"
  "$@" >>"$log" 2>&1 || rc=$?
  echo "=== $what: exit $rc after $(since "$start")" >>"$log"
  if [ "$rc" -ne 0 ]; then
    echo "build-cpython: $name: $what failed (exit $rc); the last lines of $log:" >&2
    tail -n 40 "$log" | mask_hosts >&2
    exit 1
  fi
}

is_elf() {
  [ "$(head -c 4 "$1" | od -An -c | tr -d ' ')" = '177ELF' ]
}

# Builds <work>/<name> and <work>/<name>.tar.gz from the upstream tarball $orig.
build_one() {
  local name="$1" minor="$2" flavour="$3" extra=("${@:4}")
  local prefix="/opt/pyenv-relocatable/$name" src opts
  log="$cache/logs/$name.log"
  : >"$log"
  mkdir "$work/src" "$work/build"
  step "unpack $(basename "$orig")" tar -xf "$orig" -C "$work/src"
  src="$(find "$work/src" -mindepth 1 -maxdepth 1 -type d)"
  [ -x "$src/configure" ] || die "$name: $(basename "$orig") holds no configure script"

  # '\$$ORIGIN' reaches the linker as $ORIGIN through make ($$) and the shell (\$).
  # LDFLAGS_NODIST links the interpreter and libpython without becoming part of the
  # LDFLAGS that sysconfig hands to extensions built later with this Python.
  opts=(--prefix="$prefix" --without-ensurepip "${extra[@]}")
  # A static build links libpython into the executable: nothing to relocate.
  if [ "$flavour" != static ]; then
    opts+=(--enable-shared "LDFLAGS_NODIST=-Wl,--enable-new-dtags,-rpath,\\\$\$ORIGIN/../lib")
  fi
  local help
  help="$("$src/configure" --help)"
  if grep -q -e '--disable-test-modules' <<<"$help"; then
    opts+=(--disable-test-modules)
  else
    # 3.9 installs (and byte-compiles three times) the test suite, 60 MB; its Makefile skips
    # the library directories that are not in the source tree.
    rm -rf "$src"/Lib/test "$src"/Lib/*/test "$src"/Lib/*/tests "$src"/Lib/idlelib/idle_test
  fi
  if [ "$flavour" != static ] && grep -q -e '--without-static-libpython' <<<"$help"; then
    opts+=(--without-static-libpython)
  fi

  cd "$work/build"
  step configure "$src/configure" "${opts[@]}"
  step make make -j"$jobs"
  step "make install" make install DESTDIR="$work/dest"
  mv "$work/dest$prefix" "$work/$name"
  cd "$work/$name"

  local exe="bin/python$minor" lib="lib/libpython$minor.so.1.0"
  if [ "$flavour" = freethreaded ]; then
    exe="bin/python${minor}t"
    lib="lib/libpython${minor}t.so.1.0"
  fi
  [ -x "$exe" ] || die "$name: make install left no $exe"
  if [ "$flavour" = static ]; then
    ! compgen -G 'lib/libpython*.so*' >/dev/null || die "$name: a static build installed a libpython"
  else
    [ -f "$lib" ] || die "$name: make install left no $lib"
  fi
  # A static libpython is no use to an embedder that loads libpython with dlopen.
  find lib -path '*/config-*' -name 'libpython*.a' -delete
  # Debug info is four fifths of libpython's size; symbols stay, for backtraces.
  local f elves=()
  while IFS= read -r -d '' f; do
    if is_elf "$f"; then elves+=("$f"); fi
  done < <(find bin lib -type f \( -name 'python3*' -o -name '*.so' -o -name '*.so.*' \) -print0)
  step "strip debug info" strip --strip-debug "${elves[@]}"
  # shellcheck disable=SC2016 # $ORIGIN is the linker's, literally
  [ "$flavour" = static ] || readelf -d "$exe" | grep -E '\((RUNPATH|RPATH)\)' | grep -qF '$ORIGIN/../lib' ||
    die "$name: $exe has no \$ORIGIN/../lib RUNPATH: $(readelf -d "$exe" | grep -E 'R(UN)?PATH' | tr -s ' ')"

  # Files sorted and owned by root:0, so that the same tree gives the same archive.
  step "pack $name.tar.gz" tar --sort=name --owner=0 --group=0 --numeric-owner \
    -czf "$work/$name.tar.gz" -- *
  echo "$exe" >"$work/exe"
  verify "$work/$name.tar.gz" "$minor" "$flavour" "$exe"
}

# Unpacks an archive at a path it was never built or installed at and runs its interpreter
# there, without any PYTHON* or LD_* variable that could hide a relocation that does not work.
verify() {
  local archive="$1" minor="$2" flavour="$3" exe="$4" dir root out
  dir="$work/verify"
  root="$dir/somewhere else/unpacked"
  mkdir -p "$root"
  step "unpack $(basename "$archive") to verify it" tar -xzf "$archive" -C "$root"
  if ! out="$(cd "$dir" && env -u LD_LIBRARY_PATH -u LD_PRELOAD -u PYTHONHOME -u PYTHONPATH \
    "$root/$exe" -I "$here/verify.py" "$root" "$minor" "$flavour" 2>&1)"; then
    die "$name: the unpacked archive's $exe failed its check: $out"
  fi
  echo "$out" >>"$log"
  echo "build-cpython: $name: $out"
  rm -rf "$dir"
}

# --- Build what the cache lacks ----------------------------------------------------------
cached() {
  [ -f "$cache/$1.key" ] && [ "$(cat "$cache/$1.key")" = "$2" ] &&
    [ -d "$cache/$1" ] && [ -f "$cache/$1.tar.gz" ] && [ -s "$cache/$1.exe" ]
}
key_of() {
  echo "source=${dsc_of[$1]} script=$script_hash"
}
for spec in "${selected[@]}"; do
  read -r name _ _ suite package _ <<<"$spec"
  cached "$name" "$(key_of "$package")" || fetch_source "$package" "$suite" "${dsc_of[$package]}"
done
echo "build-cpython: sources ready in $(since "$download_start")"

work=""
trap '[ -z "$work" ] || rm -rf "$work"' EXIT
summary=()
for spec in "${selected[@]}"; do
  read -r name minor flavour suite package extra <<<"$spec"
  key="$(key_of "$package")"
  if cached "$name" "$key"; then
    summary+=("$(printf '%-14s cached %51s %s' "$name" "" "$cache/$name.tar.gz")")
    continue
  fi
  fetch_source "$package" "$suite" "${dsc_of[$package]}"
  echo "build-cpython: building $name from ${dsc_of[$package]%.dsc} with -j$jobs (log: $cache/logs/$name.log)"
  work="$(mktemp -d "$cache/.build-$name.XXXXXX")"
  # `times` (not `time`, whose report a failing subshell prints itself) gives the CPU time
  # of the waited-for children: the build's, as this shell waits for nothing else meanwhile.
  times >"$work/cpu-before"
  start=$(date +%s.%N)
  set +e
  # shellcheck disable=SC2086 # $extra holds whole configure options
  (
    set -e
    build_one "$name" "$minor" "$flavour" $extra
  )
  rc=$?
  set -e
  [ "$rc" -eq 0 ] || exit 1
  wall="$(since "$start")"
  times >"$work/cpu-after"
  read -r user sys < <(awk '
    function sec(t) { split(t, p, /[ms]/); return p[1] * 60 + p[2] }
    FNR == 2 { u[FILENAME] = sec($1); s[FILENAME] = sec($2) }
    END { printf "%.0f %.0f\n", u[ARGV[2]] - u[ARGV[1]], s[ARGV[2]] - s[ARGV[1]] }' \
    "$work/cpu-before" "$work/cpu-after")

  # Publish: the key goes last, so that an interrupted publication is rebuilt next time.
  rm -f "$cache/$name.key"
  rm -rf "${cache:?}/$name" "$cache/$name.tar.gz"
  mv "$work/$name" "$cache/$name"
  mv "$work/$name.tar.gz" "$cache/$name.tar.gz"
  mv "$work/exe" "$cache/$name.exe"
  echo "$key" >"$cache/$name.key"
  rm -rf "$work"
  work=""
  size="$(du -m "$cache/$name.tar.gz" | cut -f1)"
  summary+=("$(printf '%-14s built in %7s (CPU: user %4ss, sys %3ss), %3s MB  %s' \
    "$name" "$wall" "$user" "$sys" "$size" "$cache/$name.tar.gz")")
done

# The manifest lists every build the cache holds, not only this run's.
: >"$cache/.manifest.tsv"
for spec in "${builds[@]}"; do
  read -r name minor flavour _ <<<"$spec"
  [ -f "$cache/$name.key" ] || continue
  printf '%s\t%s\t%s\t%s\t%s\n' "$minor" "$flavour" "$cache/$name.tar.gz" \
    "$(cat "$cache/$name.exe")" "$cache/$name" >>"$cache/.manifest.tsv"
done
mv "$cache/.manifest.tsv" "$cache/manifest.tsv"

echo "build-cpython: done (manifest: $cache/manifest.tsv)"
printf '  %s\n' "${summary[@]}"
