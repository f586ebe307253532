#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# make profile: build what changed, boot the VM once and trace, with
# ftrace's function_graph, 40 allocations and closes of 4 KiB buffers on the
# system heap and on ivshmem, each on CPU 0, then 2,000 allocated first and
# closed after (kept-<heap>: each release finds its buffer cold). Then print
# where the time goes (scripts/profile-report.py), per heap: the ioctl, the
# file's release and, within it, dma_buf_release, with their callees a few
# levels down, in microseconds per buffer. The traces are kept in
# runs/profile/results/. Tracing slows every traced function down: the shares
# are what to compare, not the times.
#
# Then the same allocation and close, untraced, as fast as they go, from one
# thread and from one thread per CPU, while every CPU's kernel call chains are
# sampled at each clock tick (scripts/bench/devmem_sample.c): what tracing
# cannot show, time spent waiting for another CPU, shows there, and the host
# prints each function's share of the busy samples (scripts/sample-report.py).
#
# Like make bench, it runs the kernel without debugging (scripts/kernel.sh
# bench); PROFILE_KERNEL=test runs make check's, booted with kmemleak and
# lockdep's proving off, and PROFILE_DEBUG=1 then leaves them on.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

kernel=${PROFILE_KERNEL:-bench}
case "$kernel" in test | bench) ;; *) die "PROFILE_KERNEL is bench or test" ;; esac
debug_off=
if [ "$kernel" = test ] && [ "${PROFILE_DEBUG:-0}" = 0 ]; then
	debug_off="kmemleak=off lockdep.prove_locking=0"
fi
prepare_vm
[ "$kernel" = test ] || DEVMEM_BUILD=$("$DEVMEM_TOP/scripts/kernel.sh" bench)
# shellcheck disable=SC2086 # $debug_off is words or nothing
"$DEVMEM_TOP/scripts/vm.sh" profile kunit.enable=0 $debug_off >/dev/null
run=$DEVMEM_CACHE/runs/profile
python3 "$DEVMEM_TOP/scripts/summary.py" --run "$run" --plan profile --ksrc "$ksrc" \
	>"$run/summary.txt" 2>&1 || {
	sed -n '/failures/,$p' "$run/summary.txt"
	die "the profile's run has failures (summary: $run/summary.txt)"
}
{
	python3 "$DEVMEM_TOP/scripts/profile-report.py" "$run/results"
	python3 "$DEVMEM_TOP/scripts/sample-report.py" "$run/results"
} | tee "$run/profile.txt"
