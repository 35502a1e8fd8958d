#!/bin/sh
# Container entrypoint for execd, compatible with the bootstrap.sh of
# OpenSandbox's Go execd: an image (or a runtime that injects execd) built
# for the Go daemon starts this one unchanged. docs/operations.md,
# "Running in a container", describes the contract; in short:
#
#   EXECD                       the daemon (default /opt/opensandbox/execd)
#   EXECD_ENVS                  env file for commands, created if missing
#                               (default /opt/opensandbox/.env), exported
#   EXECD_BOOTSTRAP_PRE_SCRIPT  sourced before the daemon starts, so what it
#                               exports reaches the daemon and the command
#   BOOTSTRAP_CMD, or -c "cmd"  the entry command, run by BOOTSTRAP_SHELL -c
#   BOOTSTRAP_SHELL             default bash, else sh
#   remaining arguments         the entry command as argv; none: a shell
#   OPENSANDBOX_EGRESS_MITMPROXY_TRANSPARENT
#                               truthy: trust the egress proxy's CA
#
# The daemon and the entry command run side by side. SIGTERM or SIGINT is
# forwarded to both; the script then waits for them and exits with the
# daemon's status (0 after a clean stop). When the entry command ends on its
# own, the daemon gets SIGTERM and the script exits with the command's
# status. POSIX sh: the image may have no bash.
set -e

warn() {
    echo "bootstrap: warning: $*" >&2
}

is_truthy() {
    case "$(printf '%s' "${1:-}" | tr '[:upper:]' '[:lower:]')" in
    1 | true | yes | on) return 0 ;;
    *) return 1 ;;
    esac
}

# The egress proxy's CA: into the system store when the image has the tools,
# and as a bundle (system roots + the CA) for the variables that replace the
# default roots instead of adding to them.
trust_mitm_ca() {
    ca=/opt/opensandbox/mitmproxy-ca-cert.pem
    waited=0
    while [ ! -s "$ca" ] && [ "$waited" -lt 300 ]; do
        sleep 1
        waited=$((waited + 1))
    done
    if [ ! -s "$ca" ]; then
        warn "no $ca after ${waited}s; continuing without trusting the egress proxy"
        return 0
    fi
    if command -v update-ca-certificates >/dev/null 2>&1; then
        { mkdir -p /usr/local/share/ca-certificates &&
            cp "$ca" /usr/local/share/ca-certificates/opensandbox-mitmproxy-ca.crt &&
            update-ca-certificates >/dev/null; } || warn "update-ca-certificates failed"
    elif command -v update-ca-trust >/dev/null 2>&1; then
        { mkdir -p /etc/pki/ca-trust/source/anchors &&
            cp "$ca" /etc/pki/ca-trust/source/anchors/opensandbox-mitmproxy-ca.pem &&
            update-ca-trust extract; } || warn "update-ca-trust failed"
    else
        warn "no update-ca-certificates or update-ca-trust: system store unchanged"
    fi
    export NODE_EXTRA_CA_CERTS="$ca"
    bundle="$ca"
    for roots in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt \
        /etc/ssl/cert.pem; do
        if [ -s "$roots" ]; then
            merged=/opt/opensandbox/merged-ca-certificates.pem
            if cat "$roots" "$ca" >"$merged"; then
                bundle="$merged"
            fi
            break
        fi
    done
    export REQUESTS_CA_BUNDLE="$bundle" SSL_CERT_FILE="$bundle"
}

if is_truthy "${OPENSANDBOX_EGRESS_MITMPROXY_TRANSPARENT:-}"; then
    trust_mitm_ca
fi

EXECD="${EXECD:-/opt/opensandbox/execd}"
EXECD_ENVS="${EXECD_ENVS:-/opt/opensandbox/.env}"
mkdir -p "$(dirname "$EXECD_ENVS")" 2>/dev/null || warn "cannot create the directory of EXECD_ENVS=$EXECD_ENVS"
touch "$EXECD_ENVS" 2>/dev/null || warn "cannot create EXECD_ENVS=$EXECD_ENVS"
export EXECD_ENVS

if [ -n "${EXECD_BOOTSTRAP_PRE_SCRIPT:-}" ]; then
    if [ -f "$EXECD_BOOTSTRAP_PRE_SCRIPT" ] && [ -r "$EXECD_BOOTSTRAP_PRE_SCRIPT" ]; then
        # A name without a slash would make `.` search PATH instead.
        case "$EXECD_BOOTSTRAP_PRE_SCRIPT" in
        */*) pre_script="$EXECD_BOOTSTRAP_PRE_SCRIPT" ;;
        *) pre_script="./$EXECD_BOOTSTRAP_PRE_SCRIPT" ;;
        esac
        echo "bootstrap: sourcing $EXECD_BOOTSTRAP_PRE_SCRIPT"
        # shellcheck disable=SC1090
        . "$pre_script"
    else
        warn "EXECD_BOOTSTRAP_PRE_SCRIPT=$EXECD_BOOTSTRAP_PRE_SCRIPT is not a readable file"
    fi
fi

cmd=""
if [ -n "${BOOTSTRAP_CMD:-}" ]; then
    cmd="$BOOTSTRAP_CMD"
elif [ $# -ge 1 ] && [ "$1" = "-c" ]; then
    shift
    cmd="$*"
fi
shell="${BOOTSTRAP_SHELL:-}"
if [ -z "$shell" ]; then
    shell="$(command -v bash || command -v sh || true)"
    if [ -z "$shell" ]; then
        echo "bootstrap: error: neither bash nor sh in PATH" >&2
        exit 1
    fi
fi
if [ -n "$cmd" ]; then
    set -- "$shell" -c "$cmd"
elif [ $# -eq 0 ]; then
    set -- "$shell"
fi
# The Go daemon's init mode and lifecycle hooks have no counterpart here.
if is_truthy "${EXECD_INIT:-}"; then
    warn "EXECD_INIT is not supported by this execd; starting it beside the command"
fi
unset EXECD_INIT OPENSANDBOX_LIFECYCLE EXECD_LIFECYCLE_CONFIG

echo "bootstrap: starting $EXECD"
"$EXECD" &
execd_pid=$!
cmd_pid=""

# Trap handlers (shellcheck cannot see them called).
# shellcheck disable=SC2317
forward() {
    if [ -n "$cmd_pid" ]; then
        kill "-$1" "$cmd_pid" 2>/dev/null || true
    fi
    kill "-$1" "$execd_pid" 2>/dev/null || true
}

# Forwards the signal to both children, waits for them and exits with the
# daemon's status. Another signal while waiting is forwarded too.
# shellcheck disable=SC2317
on_signal() {
    trap 'forward TERM' TERM
    trap 'forward INT' INT
    forward "$1"
    if [ -n "$cmd_pid" ]; then
        wait_for "$cmd_pid" || true
    fi
    set +e
    wait_for "$execd_pid"
    exit $?
}

# `wait` returns early (status > 128) when a trapped signal arrives: wait
# again until the process is really gone. Returns the process's status.
wait_for() {
    while :; do
        rc=0
        wait "$1" || rc=$?
        if [ "$rc" -le 128 ] || ! kill -0 "$1" 2>/dev/null; then
            return "$rc"
        fi
    done
}

trap 'on_signal TERM' TERM
trap 'on_signal INT' INT

# An explicit redirection keeps stdin (an asynchronous command would get
# /dev/null): `docker run -it IMAGE` still gets an interactive shell.
"$@" <&0 &
cmd_pid=$!

set +e
wait_for "$cmd_pid"
status=$?
set -e
kill -TERM "$execd_pid" 2>/dev/null || true
wait_for "$execd_pid" || true
exit "$status"
