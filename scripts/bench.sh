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
set -euo pipefail
. "$(dirname "$0")/lib.sh"

buffers=${BENCH_BUFFERS:-131072}
[[ "$buffers" =~ ^[1-9][0-9]*$ ]] || die "BENCH_BUFFERS must be a positive number"
prepare_vm

t=$(date +%s)
DEVMEM_IVSHMEM0_SIZE=1G "$DEVMEM_TOP/scripts/vm.sh" bench kunit.enable=0 \
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
