#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# make check: lint, build what changed, boot the test VM once with the whole test
# plan, judge it, boot once more with vkms on device memory to rerun the IGT
# tests on it, boot three times more with the ivshmem region renamed (once
# to the name of another heap and once to a name too long, which must both be
# refused cleanly), then prove
# the harness can fail: one boot loads a KUnit case that must fail, another
# injects a WARN, a third has edu report a DMA out of bounds in QEMU's
# output; each must turn its run red.
# Prints the time each phase took. The last line is the merged summary,
# "N passed, N failed, N skipped"; exit status is non-zero on any failure.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

t_all=$(date +%s)
phases=()
phase() { phases+=("$(printf '%-28s %4d s' "$1" $(($(date +%s) - $2)))"); }

t=$(date +%s)
"$DEVMEM_TOP/scripts/bootstrap.sh"
ksrc=$("$DEVMEM_TOP/scripts/ksrc.sh")
phase "toolchain, kernel source" "$t"
t=$(date +%s); "$DEVMEM_TOP/scripts/lint.sh" "$ksrc"; phase "lint" "$t"
t=$(date +%s); DEVMEM_BUILD=$("$DEVMEM_TOP/scripts/kernel.sh"); phase "kernel build" "$t"
t=$(date +%s); DEVMEM_ROOTFS=$("$DEVMEM_TOP/scripts/rootfs.sh"); phase "guest rootfs" "$t"
export DEVMEM_BUILD DEVMEM_ROOTFS

judge() { # judge PLAN EXPECT [summary.py options]: summary of the plan's last run
	python3 "$DEVMEM_TOP/scripts/summary.py" --run "$DEVMEM_CACHE/runs/$1" --plan "$1" \
		--ksrc "$ksrc" --expect "$2" "${@:3}"
}
# igt_expect PLAN: the result sources of the IGT tests igt.list names for PLAN.
igt_expect() {
	awk -v plan="$1" '!/^#/ { for (i = 2; i <= NF; i++) if ($i == plan) print $1 }' \
		"$DEVMEM_TOP/scripts/guest/igt.list" |
		sed 's|^igt_tests/.*|igt_tests|; t; s|^|igt-|' | sort -u | paste -sd,
}

t=$(date +%s)
"$DEVMEM_TOP/scripts/vm.sh" check >/dev/null
set +e
expect=kunit,kselftest-dmabuf-heaps,devmem-pattern,devmem-pattern-edu,$(igt_expect check)
for src in "$DEVMEM_TOP"/selftests/*.c; do
	[ -e "$src" ] && expect+=,kselftest-$(basename "$src" .c)
done
judge check "$expect" | tee "$DEVMEM_CACHE/runs/check/summary.txt"
set -e
phase "VM: test plan" "$t"
read -r passed _ failed _ skipped _ < <(tail -n 1 "$DEVMEM_CACHE/runs/check/summary.txt")

# vkms on device memory: every user framebuffer in the ivshmem BAR. The IGT
# tests both boots run must pass as often as on shmem.
t=$(date +%s)
echo "== vkms on device memory: vkms.devmem_region=ivshmem =="
sum=$DEVMEM_CACHE/runs/check-devmem/summary.txt
"$DEVMEM_TOP/scripts/vm.sh" check-devmem kunit.enable=0 vkms.devmem_region=ivshmem \
	>/dev/null 2>&1 || true
set +e
judge check-devmem "$(igt_expect check-devmem)" --same-passes-as "$DEVMEM_CACHE/runs/check" >"$sum"
set -e
sed -n '/results by source/,$p' "$sum"
read -r p _ f _ s _ < <(tail -n 1 "$sum")
passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
phase "VM: vkms on device memory" "$t"

# Short boots with the ivshmem region renamed by its module parameter; each
# plan checks the nodes and log lines its name must give.
names_boot() { # names_boot PLAN BASE-NAME
	local sum=$DEVMEM_CACHE/runs/$1/summary.txt p f s
	"$DEVMEM_TOP/scripts/vm.sh" "$1" kunit.enable=0 devmem_heap.ivshmem_name="$2" \
		>/dev/null 2>&1 || true
	set +e
	judge "$1" "kselftest-$1" >"$sum"
	set -e
	sed -n '/results by source/,$p' "$sum"
	read -r p _ f _ s _ < <(tail -n 1 "$sum")
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
}
t=$(date +%s)
echo "== region names: devmem_heap.ivshmem_name=vram =="
names_boot names vram
# The name of another heap: EEXIST for that device, no stack dump.
echo "== region names: devmem_heap.ivshmem_name=system =="
names_boot names-taken system
# A base name one byte longer than a region name with a two-digit suffix allows.
long=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
echo "== region names: devmem_heap.ivshmem_name=<${#long} bytes> =="
names_boot names-long "$long"
phase "VM: region names" "$t"

# Harness self-check. Each run must fail, and for the injected reason.
selfcheck() { # selfcheck PLAN KERNEL-ARGS EXPECT MUST-MATCH WHAT
	local out
	"$DEVMEM_TOP/scripts/vm.sh" "$1" "$2" >/dev/null 2>&1
	out=$(judge "$1" "$3" 2>&1) && {
		failed=$((failed + 1))
		echo "  - harness self-check FAILED: $5 did not fail its run:"
		echo "$out" | sed 's/^/      /'
		return
	}
	if echo "$out" | grep -qE "$4"; then
		passed=$((passed + 1))
		echo "  harness self-check: $5 fails its run: ok"
	else
		failed=$((failed + 1))
		echo "  - harness self-check FAILED: $5 failed its run, but not as expected:"
		echo "$out" | sed 's/^/      /'
	fi
}
t=$(date +%s)
echo "== harness self-check =="
selfcheck selftest-kunit "kunit.filter_glob=devmem_harness_selftest" kunit \
	"^  - kunit(\[[0-9]+\])?: devmem_harness_selftest\.devmem_harness_must_fail: FAIL" \
	"a failing KUnit case"
selfcheck selftest-warn "kunit.enable=0" "" \
	"WARNING: drivers/misc/lkdtm/[a-z]+\.c:[0-9]+ at lkdtm_WARNING" \
	"an injected WARN"
selfcheck selftest-edu "kunit.enable=0" "" \
	"QEMU reported: .*EDU: DMA range" \
	"edu's report of an out-of-bounds DMA"
phase "VM: harness self-check" "$t"

echo "== phases =="
printf '  %s\n' "${phases[@]}"
printf '  %-28s %4d s\n' "total" $(($(date +%s) - t_all))
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
