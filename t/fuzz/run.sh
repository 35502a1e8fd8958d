#!/bin/bash
# Runs libFuzzer harnesses for a while each and prints a summary (`make fuzz` calls it).
#
#   t/fuzz/run.sh SRCDIR BUILDDIR [NAME...]     (default: every built harness)
#
# FUZZ_SECONDS (60) is each harness's run time, FUZZ_JOBS (2) how many run at once.
# Each harness starts from its seeds (t/fuzz/corpus/NAME, never written) and the corpus
# it grew in earlier runs (BUILDDIR/t/fuzz/work/NAME/corpus), with t/fuzz/NAME.dict when
# there is one; its log, and any crash, leak or timeout input, go to
# BUILDDIR/t/fuzz/work/NAME/. Exits 1 when any harness failed.
set -u
srcdir=$1 builddir=$2
shift 2
seconds=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-2}
bin=$builddir/t/fuzz/bin
work=$builddir/t/fuzz/work

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
    for f in "$bin"/fuzz_*; do
        names+=("${f##*/fuzz_}")
    done
fi

run_one() {
    local name=$1 dir=$work/$1
    mkdir -p "$dir/corpus"
    rm -f "$dir"/crash-* "$dir"/leak-* "$dir"/timeout-* "$dir"/oom-*
    local dict=()
    [ -f "$srcdir/t/fuzz/$name.dict" ] && dict=(-dict="$srcdir/t/fuzz/$name.dict")
    local start=$SECONDS
    "$bin/fuzz_$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$dir/" "${dict[@]}" \
        "$dir/corpus" "$srcdir/t/fuzz/corpus/$name" >"$dir/log" 2>&1
    echo "$? $((SECONDS - start))" >"$dir/status"
}
export -f run_one
export srcdir bin work seconds

echo "fuzzing ${names[*]}: ${seconds}s each, $jobs at a time (logs in $work)"
printf '%s\n' "${names[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one {}'

failed=0
printf '| harness | seconds | executions | exec/s | cov | ft | corpus | result |\n'
printf '|---|---:|---:|---:|---:|---:|---:|---|\n'
for name in "${names[@]}"; do
    dir=$work/$name
    read -r rc took <"$dir/status"
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log")
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/log")
    last=$(grep -E '^#[0-9]+' "$dir/log" | tail -n 1)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")
    found=$(ls "$dir" | grep -cE '^(crash|leak|timeout|oom)-')
    result="0 crashes"
    if [ "$rc" != 0 ] || [ "$found" != 0 ]; then
        result="FAILED (exit $rc, $found inputs in $dir)"
        failed=1
    fi
    printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$name" "$took" "${execs:-?}" \
        "${speed:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$result"
done
exit $failed
