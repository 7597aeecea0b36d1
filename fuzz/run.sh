#!/bin/bash
# fuzz/run.sh: runs one libFuzzer target for a bounded time and says how far it got.
#
#   run.sh NAME BINARY OUTDIR MAX_LEN SECONDS [SEED_DIR]...
#
# OUTDIR/corpus/NAME is the corpus libFuzzer grows (it keeps what it finds between runs, so
# a second "make fuzz" starts where the first stopped); the seed directories are only read.
# The log goes to OUTDIR/NAME.log; crashes, leaks, hangs and broken properties are written
# to OUTDIR/artifacts/NAME-*. Prints one line,
#   NAME: N execs in S s (R/s), corpus C inputs, coverage F features
# and exits non-zero when the target found something.
set -u

name=$1 bin=$2 out=$3 max_len=$4 seconds=$5
shift 5
work=$out/corpus/$name
artifacts=$out/artifacts
log=$out/$name.log
mkdir -p "$work" "$artifacts"

seeds=()
for d in "$@"; do
	[ -d "$d" ] && seeds+=("$d")
done

# -timeout: a single input taking seconds is a hang worth reporting (the parsers are all
# linear). -rss_limit_mb: the targets allocate at most a few MiB per input.
"$bin" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
	-print_final_stats=1 -artifact_prefix="$artifacts/$name-" \
	"$work" "${seeds[@]}" >"$log" 2>&1
rc=$?

runs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1 \2/p' "$log" | tail -n 1)
if [ -z "$runs" ]; then
	runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\)/\1/p' "$log" | tail -n 1)
	secs=$(sed -n 's/^stat::.*total_time.*: *\([0-9]*\)/\1/p' "$log" | tail -n 1)
	runs="${runs:-0} ${secs:-$seconds}"
fi
set -- $runs
execs=$1 secs=$2
[ "$secs" -gt 0 ] 2>/dev/null || secs=1
ft=$(grep -o 'ft: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
corpus=$(find "$work" -type f | wc -l)
printf '%s: %s execs in %s s (%s/s), corpus %s inputs, coverage %s features\n' \
	"$name" "$execs" "$secs" "$((execs / secs))" "$corpus" "${ft:-?}"
if [ "$rc" -ne 0 ]; then
	echo "$name: FOUND SOMETHING (exit $rc); log: $log" >&2
	grep -E '^(==[0-9]+==ERROR|SUMMARY|.*property failed|artifact_prefix|Test unit written)' \
		"$log" | head -n 20 >&2
	exit 1
fi
