#!/usr/bin/env bash
# Installs every Debian package that building, running and testing libpyenv needs, on a
# minimal Debian 12 (the CI stage .ci/fresh runs the README's set-up commands in a
# `debootstrap --variant=minbase bookworm` root to prove it). cmake/dependencies.cmake names
# the package of each library it finds missing. GoogleTest's gmock is a package of its own
# (libgmock-dev): libgtest-dev does not bring it.
# tests/python/cpython/build-cpython.sh builds CPython from source with gcc and make; its
# ctypes, bz2 and lzma modules need libffi-dev, libbz2-dev and liblzma-dev (zlib1g-dev and
# libssl-dev give zlib and ssl), and it checks Debian's source indexes with gpgv against
# debian-archive-keyring.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  cmake make g++ gcc binutils pkg-config \
  libgtest-dev libgmock-dev \
  libyaml-cpp-dev libzip-dev libarchive-dev zlib1g-dev libdeflate-dev libssl-dev \
  libboost-dev libboost-filesystem-dev \
  python3 python3-dev python3-pip python3-venv \
  zip unzip libarchive-tools \
  dpkg-dev file abigail-tools \
  openjdk-17-jdk-headless junit5 \
  clang libclang-rt-14-dev \
  libffi-dev libbz2-dev liblzma-dev debian-archive-keyring gpgv >/dev/null
