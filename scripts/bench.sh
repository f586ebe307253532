#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# make bench [BENCH_BUFFERS=N]: build what changed, boot the VM once with a
# 1 GiB ivshmem region (a sparse backing file), run the benchmark
# (scripts/bench/devmem_bench.c) on the system heap, ivshmem and
# ivshmem-contiguous side by side, with progress lines, then print the
# table with the devmem heaps' ratios and the goals of issue 12 and write
# it as runs/bench/bench.csv and bench.png. The run is judged like make
# check too (a WARN fails it). Exit status non-zero if a goal is missed.
#
# The kernel is make check's, a debugging kernel. kmemleak and lockdep's
# proving cost every slab allocation and lock a stack trace or a graph walk,
# which would be most of what is measured, so the benchmark boots with them
# off (kmemleak=off lockdep.prove_locking=0). BENCH_DEBUG=1 leaves them on.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

buffers=${BENCH_BUFFERS:-131072}
[[ "$buffers" =~ ^[1-9][0-9]*$ ]] || die "BENCH_BUFFERS must be a positive number"
debug_off="kmemleak=off lockdep.prove_locking=0"
[ "${BENCH_DEBUG:-0}" = 0 ] || debug_off=
prepare_vm
echo "== bench: kernel debugging features: ${debug_off:-all on} =="

t=$(date +%s)
# shellcheck disable=SC2086 # $debug_off is words or nothing
DEVMEM_IVSHMEM0_SIZE=1G "$DEVMEM_TOP/scripts/vm.sh" bench kunit.enable=0 $debug_off \
	devmem.bench_buffers="$buffers" >/dev/null
run=$DEVMEM_CACHE/runs/bench
set +e
python3 "$DEVMEM_TOP/scripts/summary.py" --run "$run" --plan bench --ksrc "$ksrc" \
	>"$run/summary.txt" 2>&1
judged=$?
set -e
echo "== bench: $(($(date +%s) - t)) s =="
python3 "$DEVMEM_TOP/scripts/bench-report.py" "$run" && met=0 || met=$?
if [ "$judged" -ne 0 ]; then
	sed -n '/failures/,$p' "$run/summary.txt"
	die "the benchmark's run has failures (summary: $run/summary.txt)"
fi
exit "$met"
