#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# make soak [SOAK_CYCLES=N]: build what changed, boot the VM once and run N
# (default 100) revocation cycles of devmem_revoke: each puts buffers of one
# ivshmem region in every state, takes the device away (QEMU's device_del and
# the guest's slot power-off, in turn, over both devices), checks every path
# into its memory is closed and brings it back. Then judges the run like
# make check (any WARN, lockdep report or kmemleak leak is a failure) and
# prints the table; the last line is the table's, failures included.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

cycles=${SOAK_CYCLES:-100}
[[ "$cycles" =~ ^[1-9][0-9]*$ ]] || die "SOAK_CYCLES must be a positive number"
prepare_vm

t=$(date +%s)
# About 7 s a cycle under TCG (a device_del alone waits 5 s in pciehp).
DEVMEM_VM_TIMEOUT=${DEVMEM_VM_TIMEOUT:-$((600 + cycles * 20))} \
	"$DEVMEM_TOP/scripts/vm.sh" soak kunit.enable=0 devmem.soak_cycles="$cycles" >/dev/null
run=$DEVMEM_CACHE/runs/soak
set +e
python3 "$DEVMEM_TOP/scripts/summary.py" --run "$run" --plan soak --ksrc "$ksrc" \
	--expect kselftest-devmem_revoke-soak >"$run/summary.txt"
set -e
sed -n '/results by source/,$p' "$run/summary.txt"
read -r _ _ failed _ _ _ < <(tail -n 1 "$run/summary.txt")
echo "== soak: $(($(date +%s) - t)) s =="
# The guest's table: one header line, one line of figures.
table=$(sed -n 's/^# soak: //p' "$run/results/kselftest-devmem_revoke-soak.log")
[ -n "$table" ] || table=$'cycles\n0'
echo "$table" | head -n 1 | sed 's/^/  /'
# Failures: every failed check or kernel report the summary counted.
read -r c b f _ g r <<<"$(echo "$table" | tail -n 1)"
printf '  %-8s %-16s %-8s %-10s %-14s %-16s\n' "$c" "$b" "$f" "$failed" "$g" "$r"
echo "soak: $c cycles, $b buffers revoked, $f faults, $failed failures"
[ "$failed" -eq 0 ]
