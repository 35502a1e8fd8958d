#!/bin/sh
# Installs everything needed to build execd, run it (python kernels included)
# and run its whole test suite on Debian 12 (debhelper and lintian: `make deb`
# and its test; patchelf: `make bundle`). (The file throughput benchmark also
# needs nginx: apt-get install nginx. It is left out here because its package
# starts a service, which a test machine does not need.) The SQL tests start their own
# MariaDB server: mariadb-server-core and mariadb-client-core hold the server, its
# installer and the client without the mariadb-server package's system service, so the
# tests never meet (or depend on) a server of the machine's. The single list of
# dependencies: .ci/run and the README's quick start both use it. Last, the
# TypeScript/JavaScript kernel (tslab, from the npm registry) for the tests of kernels other
# than ipykernel: skipped, with a message, where npm cannot be had (those tests then report SKIP).
set -e

PACKAGES="
  build-essential autoconf automake libtool pkg-config
  libevent-dev libevhtp-dev libonig-dev libssl-dev
  libjson-c-dev libzmq3-dev libinih-dev libcmocka-dev libwslay-dev libmariadb-dev
  bash python3 python3-ipykernel python3-jupyter-client python3-zmq python3-matplotlib
  procps util-linux curl valgrind
  mariadb-server-core mariadb-client-core
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

# tslab (kernelspecs "tslab": typescript, "jslab": javascript) under /usr/local/share/jupyter.
# Pinned: the tests know its behaviour (last expression printed on stdout, errors on stderr).
TSLAB=tslab@1.0.22
if ! command -v npm >/dev/null 2>&1; then
    # Debian's npm brings its nodejs (18); machines with Node.js from elsewhere have npm.
    $SUDO apt-get install -y -q --no-install-recommends npm ||
        echo "deps.sh: npm could not be installed" >&2
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "deps.sh: npm is not available: tslab not installed, its tests will be skipped" >&2
elif [ "$(tslab --version 2>/dev/null)" = "tslab ${TSLAB#tslab@}" ] &&
    [ -f /usr/local/share/jupyter/kernels/tslab/kernel.json ]; then
    echo "deps.sh: ${TSLAB} already installed"
elif $SUDO npm install -g --no-audit --no-fund "$TSLAB" &&
    $SUDO tslab install --python=/usr/bin/python3 --prefix=/usr/local; then
    echo "deps.sh: ${TSLAB} installed"
else
    echo "deps.sh: ${TSLAB} could not be installed: its tests will be skipped" >&2
fi
