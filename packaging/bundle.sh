#!/bin/sh
# bundle.sh BINARY OUTDIR [LAUNCHER ONEFILE]: a copy of execd that runs on any
# glibc system of the same architecture, whatever else it has installed
# (docs/operations.md, "Injecting execd into an image"):
#
#   OUTDIR/execd        BINARY, stripped, DT_RPATH $ORIGIN/lib
#   OUTDIR/lib/*.so.*   every library it loads except glibc's own, each with
#                       DT_RPATH $ORIGIN so their own dependencies come from
#                       there too
#   OUTDIR/GLIBC        the newest glibc symbol version any of them needs,
#                       i.e. the oldest glibc the bundle runs on
#
# With LAUNCHER (packaging/bundle-launcher.c, built), ONEFILE is the same
# bundle as one executable file: the launcher, a ustar archive of OUTDIR and a
# trailer naming the archive's size and a bundle id (a digest of the archive).
# Run, it unpacks itself once and executes OUTDIR/execd from there.
#
# DT_RPATH rather than DT_RUNPATH: it applies to indirect dependencies and
# wins over an LD_LIBRARY_PATH the image may set.
#
# A fully static binary is not possible from Debian's packages: libevhtp has
# no static archive, and libzmq's links against Kerberos, which has none.
set -eu

if [ $# -ne 2 ] && [ $# -ne 4 ]; then
    echo "usage: $0 BINARY OUTDIR [LAUNCHER ONEFILE]" >&2
    exit 2
fi
bin=$1
out=$2
for tool in ldd patchelf objdump strip tar sha256sum; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "bundle.sh: $tool not found (apt-get install patchelf binutils)" >&2
        exit 1
    fi
done

# The libraries glibc itself provides: the target system has its own.
is_glibc() {
    case "$1" in
    ld-linux*.so.* | libc.so.* | libm.so.* | libmvec.so.* | libpthread.so.* | libdl.so.* | \
        librt.so.* | libresolv.so.* | libutil.so.* | libanl.so.* | libnsl.so.* | libnss_*.so.* | \
        libBrokenLocale.so.* | libthread_db.so.* | libc_malloc_debug.so.*)
        return 0
        ;;
    esac
    return 1
}

rm -rf "$out"
mkdir -p "$out/lib"
cp "$bin" "$out/execd"
strip --strip-unneeded "$out/execd"

# ldd lists direct and indirect dependencies as "name => path (address)".
ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }' > "$out/.libs"
while read -r name path; do
    if is_glibc "$name"; then
        continue
    fi
    cp -L "$path" "$out/lib/$name"
    chmod 0644 "$out/lib/$name"
    # shellcheck disable=SC2016 # $ORIGIN is for the dynamic loader
    patchelf --force-rpath --set-rpath '$ORIGIN' "$out/lib/$name"
done < "$out/.libs"
rm -f "$out/.libs"
# shellcheck disable=SC2016
patchelf --force-rpath --set-rpath '$ORIGIN/lib' "$out/execd"

objdump -T "$out/execd" "$out"/lib/*.so.* | grep -o 'GLIBC_[0-9][0-9.]*' | sort -u -V |
    tail -n 1 | sed 's/^GLIBC_//' > "$out/GLIBC"
echo "bundle.sh: $out: execd and $(find "$out/lib" -type f | wc -l) libraries; needs glibc >= $(cat "$out/GLIBC")"

if [ $# -eq 4 ]; then
    launcher=$3
    onefile=$4
    tar --format=ustar --owner=0 --group=0 --numeric-owner --sort=name \
        -C "$out" -cf "$onefile.tar" execd lib GLIBC
    size=$(wc -c < "$onefile.tar")
    id=$(sha256sum "$onefile.tar" | cut -c1-28)
    cp "$launcher" "$onefile.tmp"
    strip --strip-unneeded "$onefile.tmp"
    cat "$onefile.tar" >> "$onefile.tmp"
    printf 'EXECD-BUNDLE-1  %020d%s' "$size" "$id" >> "$onefile.tmp"
    rm -f "$onefile.tar"
    chmod 0755 "$onefile.tmp"
    mv "$onefile.tmp" "$onefile"
    echo "bundle.sh: $onefile: one file, bundle id $id"
fi
