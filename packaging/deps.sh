#!/bin/sh
# Installs everything needed to build execd, run it (python kernels included)
# and run its whole test suite on Debian 12 (debhelper and lintian: `make deb`
# and its test; patchelf: `make bundle`). (The file throughput benchmark also
# needs nginx: apt-get install nginx. It is left out here because its package
# starts a service, which a test machine does not need.) The single list of dependencies:
# .ci/run and the README's quick start both use it.
set -e

PACKAGES="
  build-essential autoconf automake libtool pkg-config
  libevent-dev libevhtp-dev libonig-dev libssl-dev
  libjson-c-dev libzmq3-dev libinih-dev libcmocka-dev libwslay-dev
  bash python3 python3-ipykernel python3-jupyter-client python3-zmq python3-matplotlib
  procps util-linux curl valgrind
  debhelper lintian patchelf
"

SUDO=""
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "run as root (or install sudo)" >&2; exit 1; }
    SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $PACKAGES
