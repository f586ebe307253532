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
# The kernel is make check's without its debugging (scripts/kernel.sh bench):
# lockdep, the lock debugging it selects and kmemleak cost every lock and
# slab allocation more than the work around it, and the two heaps do not take
# the same locks. BENCH_KERNEL=test runs make check's kernel instead, booted
# with kmemleak and lockdep's proving off; BENCH_DEBUG=1 leaves them on.
#
# The ivshmem backing files are on a tmpfs when /dev/shm has room: device
# memory is not written back to a disk, and a shared mapping of a disk file
# is, every few seconds, write-protecting the pages the guest then writes.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

buffers=${BENCH_BUFFERS:-131072}
[[ "$buffers" =~ ^[1-9][0-9]*$ ]] || die "BENCH_BUFFERS must be a positive number"
kernel=${BENCH_KERNEL:-bench}
case "$kernel" in test | bench) ;; *) die "BENCH_KERNEL is bench or test" ;; esac
debug_off=
if [ "$kernel" = test ] && [ "${BENCH_DEBUG:-0}" = 0 ]; then
	debug_off="kmemleak=off lockdep.prove_locking=0"
fi
prepare_vm
[ "$kernel" = test ] || DEVMEM_BUILD=$("$DEVMEM_TOP/scripts/kernel.sh" bench)
echo "== bench: kernel: $DEVMEM_BUILD ${debug_off:+($debug_off)} =="

# 1 GiB and 128 MiB of backing files, and room to spare.
shm=/dev/shm/devmem-heap-bench
if [ "$(df -k --output=avail /dev/shm 2>/dev/null | tail -1)" -gt $((1280 * 1024)) ] 2>/dev/null; then
	export DEVMEM_IVSHMEM_DIR=$shm
	trap 'rm -rf "$shm"' EXIT
	echo "== bench: ivshmem backing files on /dev/shm =="
else
	echo "== bench: /dev/shm has no 1.25 GiB free: ivshmem backing files on the run directory's file system =="
fi

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
