#!/bin/sh
# Regenerates the build system (configure, Makefile.in, aux scripts).
set -e
cd "$(dirname "$0")"
autoreconf --install --force
