#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The run's test plan, started by devmem-init inside the guest. The plan's
# name comes from the kernel command line (devmem.plan=...). Every test
# writes its full output to /devmem/results/<name>.log and its exit status to
# <name>.rc; the console gets one line per test. Results are judged on the
# host (scripts/summary.py), never here.
set -u
R=/devmem/results
mkdir -p "$R"
plan=$(sed -n 's/.*devmem\.plan=\([^ ]*\).*/\1/p' /proc/cmdline)

say() {
	echo "devmem-guest: $*"
}

# run NAME CMD...: run one test program, output to its log, status to .rc.
run() {
	local name=$1 t0 rc
	shift
	say "running $name"
	t0=$(date +%s)
	"$@" >"$R/$name.log" 2>&1 </dev/null
	rc=$?
	echo "$rc" >"$R/$name.rc"
	say "$name exited $rc after $(($(date +%s) - t0)) s"
}

# check N DESCRIPTION COMMAND...: one KTAP result line, ok if COMMAND succeeds.
check() {
	local n=$1 what=$2
	shift 2
	if "$@"; then echo "ok $n $what"; else echo "not ok $n $what"; fi
}

# igt_entries: the tests igt.list names for this plan, one a line.
igt_entries() {
	awk -v plan="$plan" '!/^#/ { for (i = 2; i <= NF; i++) if ($i == plan) print $1 }' \
		/devmem/igt.list
}

# run_igt: the plan's IGT tests. Debian's IGT ones run one by one; the
# project's own (igt_tests/) run together through IGT's igt_runner, one
# process per subtest, whose results.json the host judges.
run_igt() {
	local t own=()
	for t in $(igt_entries); do
		case "$t" in
		igt_tests/*) own+=("igt@${t#igt_tests/}") ;;
		# IGT opens the first card its DRIVER_ANY accepts; pin it to vkms.
		*) IGT_FORCE_DRIVER=vkms run "igt-$t" "/usr/libexec/igt-gpu-tools/$t" ;;
		esac
	done
	[ ${#own[@]} -gt 0 ] || return 0
	printf '%s\n' "${own[@]}" >"$R/igt_tests.list"
	# The runner's results go to tmpfs first: it mmaps its output files.
	run igt_tests igt_runner --per-test-timeout 120 --test-list "$R/igt_tests.list" \
		/devmem/tests/igt /tmp/igt_tests
	cp -r /tmp/igt_tests "$R/igt_tests"
}

kmemleak_scan() {
	[ -w /sys/kernel/debug/kmemleak ] || return 0
	# kmemleak only reports objects older than 5 s: let the last test's age.
	sleep 5
	say "kmemleak scan"
	echo scan >/sys/kernel/debug/kmemleak
	cat /sys/kernel/debug/kmemleak
}

show_devices() {
	say "heaps in /dev/dma_heap:"
	ls -l /dev/dma_heap
	say "DRM devices:"
	for c in /sys/class/drm/card[0-9]; do
		echo "  /dev/dri/${c##*/}: $(readlink -f "$c/device")"
	done
	say "ivshmem devices (1af4:1110):"
	for d in /sys/bus/pci/devices/*; do
		[ "$(cat "$d/vendor"):$(cat "$d/device")" = 0x1af4:0x1110 ] || continue
		# resource line 3 is BAR2: start end flags.
		set -- $(sed -n 3p "$d/resource")
		printf '  %s BAR2 %#x-%#x (%d MiB)\n' "${d##*/}" "$1" "$2" $((($2 - $1 + 1) >> 20))
		echo "    path: $(readlink -f "$d")"
	done
}

show_regions() {
	for d in /sys/kernel/debug/devmem_heap/*/; do
		[ -e "$d/stats" ] || continue
		say "devmem-heap region ${d%/}:"
		sed 's/^/  /' "$d/stats"
		sed 's/^/  buffer: /' "$d/buffers"
	done
}

case "$plan" in
check)
	show_devices
	run kselftest-dmabuf-heaps /devmem/tests/dmabuf-heap
	for t in /devmem/tests/*; do
		[ "${t##*/}" = dmabuf-heap ] || [ -d "$t" ] || run "kselftest-${t##*/}" "$t"
	done
	run_igt
	# Last: patterns in device memory that the host looks for afterwards,
	# written through mmap and by edu's peer-to-peer DMA.
	run devmem-pattern /devmem/tests/devmem_heap pattern
	run devmem-pattern-edu /devmem/tests/devmem_p2p pattern
	show_regions
	kmemleak_scan
	;;
check-devmem)
	# Booted with vkms.devmem_region=ivshmem: vkms's dumb buffers, and so
	# every user framebuffer, come from the ivshmem region.
	show_devices
	run_igt
	show_regions
	kmemleak_scan
	;;
demo)
	show_devices
	say "allocating a buffer from each ivshmem heap, writing a message through mmap"
	# The writer stays behind holding the buffers: no pipe to wait on.
	/devmem/tests/devmem_heap pattern "devmem-heap: hello from device memory!" \
		>"$R/devmem-pattern.log"
	cat "$R/devmem-pattern.log"
	say "having edu copy a message into a buffer of each heap, by peer-to-peer DMA"
	/devmem/tests/devmem_p2p pattern "devmem-heap: hello from edu, by peer-to-peer DMA!" \
		>"$R/devmem-pattern-edu.log"
	cat "$R/devmem-pattern-edu.log"
	dmesg | grep -E 'edu_p2p' | sed 's/^/  /'
	say "vkms on device memory: scanning out a buffer of ivshmem, writing the frame back into one of ivshmem-contiguous"
	/devmem/tests/demo/devmem_vkms_demo >"$R/vkms-demo.log" 2>&1
	grep -E '^(frame|written back|compose|Subtest)' "$R/vkms-demo.log" | sed 's/^/  /'
	show_regions
	;;
bench)
	# make bench: the heaps side by side; the count of live buffers from the
	# kernel command line.
	show_devices
	count=$(sed -n 's/.*devmem\.bench_buffers=\([0-9]*\).*/\1/p' /proc/cmdline)
	say "benchmark: system, ivshmem and ivshmem-contiguous"
	# Not .log and .rc: the host judges the run like make check, and these are
	# no test's; bench-report.py reads them. Progress lines go to the console.
	/devmem/tests/bench/devmem_bench "${count:-131072}" 2>&1 >"$R/bench.txt" |
		tee "$R/bench-progress.txt" | sed -u 's/^# /devmem-guest: bench: /'
	echo "${PIPESTATUS[0]}" >"$R/bench-status.txt"
	show_regions
	;;
profile)
	# make profile: function_graph of allocating and closing 4 KiB buffers,
	# each heap in turn, on CPU 0, one buffer at a time and then many kept
	# alive before they are closed; then the same work sampled. The host sums
	# the traces and the samples up.
	show_devices
	t=/sys/kernel/tracing
	mountpoint -q "$t" || mount -t tracefs tracefs "$t"
	echo 0 >"$t/tracing_on"
	echo 32768 >"$t/buffer_size_kb"
	echo function_graph >"$t/current_tracer"
	echo 0 >"$t/options/funcgraph-irqs"
	echo 1 >"$t/options/funcgraph-tail"
	echo 'dma_heap_ioctl __fput' >"$t/set_graph_function"
	for heap in system ivshmem; do
		say "profile: $heap"
		# Warm up untraced, then trace.
		/devmem/tests/bench/devmem_bench profile "$heap" 4096 20
		echo >"$t/trace"
		echo 1 >"$t/tracing_on"
		/devmem/tests/bench/devmem_bench profile "$heap" 4096 40
		echo 0 >"$t/tracing_on"
		cat "$t/per_cpu/cpu0/trace" >"$R/profile-$heap.trace"
		echo >"$t/trace"
		echo 1 >"$t/tracing_on"
		/devmem/tests/bench/devmem_bench profile-kept "$heap" 4096 2000
		echo 0 >"$t/tracing_on"
		cat "$t/per_cpu/cpu0/trace" >"$R/profile-kept-$heap.trace"
	done
	echo nop >"$t/current_tracer"
	# Then sampled, untraced: kernel call chains of every CPU while one
	# thread, and then one per CPU, allocate and close as fast as they go.
	grep ' [tT] ' /proc/kallsyms >"$R/kallsyms"
	for heap in system ivshmem; do
		for threads in 1 "$(nproc)"; do
			say "profile: $heap, sampled, $threads thread(s)"
			/devmem/tests/bench/devmem_sample "$heap" "$threads" 3 \
				"$R/sample-$heap-$threads.txt"
			sleep 1
		done
	done
	show_regions
	;;
soak)
	# make soak: revocation cycles, the number from the kernel command line.
	show_devices
	cycles=$(sed -n 's/.*devmem\.soak_cycles=\([0-9]*\).*/\1/p' /proc/cmdline)
	run kselftest-devmem_revoke-soak /devmem/tests/devmem_revoke soak "${cycles:-100}"
	grep '^# soak: ' "$R/kselftest-devmem_revoke-soak.log"
	show_regions
	kmemleak_scan
	;;
names)
	# Booted with devmem_heap.ivshmem_name=vram: KTAP for the host.
	{
		echo "TAP version 13"
		echo "1..3"
		n=0
		for c in "-c /dev/dma_heap/vram" "-c /dev/dma_heap/vram-contiguous" \
			"-c /dev/dma_heap/vram1"; do
			n=$((n + 1))
			# shellcheck disable=SC2086
			if [ $c ]; then echo "ok $n $c"; else echo "not ok $n $c"; fi
		done
		ls -l /dev/dma_heap
	} >"$R/kselftest-names.log" 2>&1
	echo 0 >"$R/kselftest-names.rc"
	;;
names-taken)
	# Booted with devmem_heap.ivshmem_name=system, the name of the system
	# heap: the first device's region is refused with EEXIST (the host
	# checks the console for a stack dump), the second one is system1.
	{
		echo "TAP version 13"
		echo "1..4"
		check 1 "no region named system" test ! -e /sys/kernel/debug/devmem_heap/system
		check 2 "the first ivshmem probe failed with EEXIST" \
			sh -c 'dmesg | grep -q "probe with driver devmem_ivshmem failed with error -17"'
		check 3 "the system heap stays, no system-contiguous is made" \
			test -c /dev/dma_heap/system -a ! -e /dev/dma_heap/system-contiguous
		check 4 "the second ivshmem device is system1" \
			test -c /dev/dma_heap/system1 -a -c /dev/dma_heap/system1-contiguous
		ls -l /dev/dma_heap
	} >"$R/kselftest-names-taken.log" 2>&1
	echo 0 >"$R/kselftest-names-taken.rc"
	;;
names-long)
	# Booted with a 47-byte devmem_heap.ivshmem_name: one byte too long for
	# a region name with a two-digit suffix. Both probes fail with EINVAL.
	{
		echo "TAP version 13"
		echo "1..3"
		check 1 "both ivshmem probes failed with EINVAL" \
			sh -c '[ "$(dmesg | grep -c "probe with driver devmem_ivshmem failed with error -22")" = 2 ]'
		check 2 "the limit is named" \
			sh -c 'dmesg | grep -q "devmem_heap.ivshmem_name is longer than 46 bytes"'
		check 3 "no ivshmem region or heap" \
			sh -c '! ls /dev/dma_heap /sys/kernel/debug/devmem_heap | grep -q xxxx'
		ls -l /dev/dma_heap
	} >"$R/kselftest-names-long.log" 2>&1
	echo 0 >"$R/kselftest-names-long.rc"
	;;
selftest-kunit)
	# The failing KUnit suite lives in a module, loaded only here.
	insmod /devmem/modules/devmem_harness_selftest.ko
	;;
selftest-edu)
	# edu DMA past its internal buffer: QEMU reports it and stops.
	/devmem/tests/devmem_p2p edu-out-of-bounds
	;;
selftest-warn)
	insmod /devmem/modules/lkdtm.ko
	echo WARNING >/sys/kernel/debug/provoke-crash/DIRECT
	;;
script)
	# A developer's own script (make script SCRIPT=file).
	say "running your script"
	/devmem/script.sh
	;;
shell)
	show_devices
	say "interactive shell; exit it to power off"
	setsid -c /bin/bash -l
	;;
*)
	say "unknown plan '$plan'"
	;;
esac
say "plan $plan finished"
