#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# make demo / make run / make script: build what is missing and boot the VM
# with the demo plan (or the interactive shell, or the user's script), then
# show the guest's output.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

plan=${1:-demo}
DEVMEM_BUILD=$("$DEVMEM_TOP/scripts/kernel.sh")
DEVMEM_ROOTFS=$("$DEVMEM_TOP/scripts/rootfs.sh")
export DEVMEM_BUILD DEVMEM_ROOTFS
# The demo and the shell skip the boot-time KUnit run; vkms takes its
# buffers from the ivshmem region.
run=$(DEVMEM_VM_FOLLOW=0 "$DEVMEM_TOP/scripts/vm.sh" "$plan" kunit.enable=0 \
	vkms.devmem_region=ivshmem)
[ "$plan" = shell ] && exit 0
# The guest's own lines, without the kernel's.
sed -n '/devmem-guest: /,$p' "$run/console.log" | grep -v '^\[ *[0-9.]*\]' || true
if ! grep -q "devmem-guest: plan $plan finished" "$run/console.log"; then
	die "the VM did not finish plan $plan (console: $run/console.log)"
fi
# The host's side: the message, read out of each ivshmem backing file.
[ "$plan" = demo ] || exit 0
show() { # show LOG HOW: each expected pattern, out of the host's backing file
	grep '^expect ' "$1" | while read -r _ region size off hex; do
		for img in "$run"/ivshmem*.img; do
			[ "$(stat -c %s "$img")" = "$size" ] || continue
			got=$(od -A n -t x1 -j "$off" -N $((${#hex} / 2)) "$img" | tr -d ' \n')
			printf '%s (region %s) at BAR offset %#x:\n' "${img##*/}" "$region" "$off"
			od -A x -t x1z -j "$off" -N $((${#hex} / 2)) "$img" | sed 's/^/    /'
			[ "$got" = "$hex" ] || die "the host sees different bytes in ${img##*/}"
			echo "    = the bytes $2"
		done
	done
}
echo
echo "== on the host: the same bytes in the ivshmem backing files =="
show "$run/results/devmem-pattern.log" "the guest wrote through mmap"
echo
echo "== on the host: the bytes edu wrote by peer-to-peer DMA =="
show "$run/results/devmem-pattern-edu.log" "edu wrote through the heap's DMA table"
echo
echo "== on the host: the frame vkms wrote back into device memory =="
python3 "$DEVMEM_TOP/scripts/frame2png.py" "$run" "$run/results/vkms-demo.log" ||
	die "no written-back frame in the backing file (log: $run/results/vkms-demo.log)"
