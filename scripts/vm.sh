#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Boot the test VM with one plan: vm.sh PLAN [extra kernel args...]
#
# q35 under TCG (DEVMEM_KVM=1 opts into KVM), 2 vCPUs, the cached Debian sid
# rootfs as the 9p root, the run directory as a second 9p share, and an
# two ivshmem-plain devices whose BAR2s are host files (64 MiB and 128 MiB, so
# that a size names a device), behind a PCIe switch with a spare
# hotplug-capable downstream port, and two edu devices (DMA engines), one
# behind the switch and one on the root bus. The serial console is kept in
# $DEVMEM_CACHE/runs/PLAN/console.log, QEMU's own output in qemu.log; the
# QEMU monitor listens on monitor.sock there. The whole run is bounded by DEVMEM_VM_TIMEOUT seconds.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

plan=${1:?usage: vm.sh PLAN [kernel args...]}
shift
build=${DEVMEM_BUILD:?run scripts/kernel.sh first and set DEVMEM_BUILD}
rootfs=${DEVMEM_ROOTFS:?run scripts/rootfs.sh first and set DEVMEM_ROOTFS}
timeout_s=${DEVMEM_VM_TIMEOUT:-900}
run=$DEVMEM_CACHE/runs/$plan

# A fresh run directory: results of an earlier run must never be read as
# this run's. The ivshmem backing files start zeroed.
rm -rf "$run"
mkdir -p "$run"/{results,tests,modules}
install -m 0755 "$DEVMEM_TOP/scripts/guest/init.sh" "$run/init.sh"
cp "$DEVMEM_TOP/scripts/guest/igt.list" "$run/igt.list"
# Plan "script" runs a script of the developer's: DEVMEM_VM_SCRIPT=file.
[ -z "${DEVMEM_VM_SCRIPT:-}" ] || install -m 0755 "$DEVMEM_VM_SCRIPT" "$run/script.sh"
cp "$build"/devmem-tests/* "$run/tests/"
find "$build" -name '*.ko' -exec cp {} "$run/modules/" \;
truncate -s 64M "$run/ivshmem0.img"
truncate -s 128M "$run/ivshmem1.img"
mkdir -p "$rootfs/devmem" "$rootfs/sbin"
cmp -s "$DEVMEM_TOP/scripts/guest/devmem-init" "$rootfs/sbin/devmem-init" ||
	install -m 0755 "$DEVMEM_TOP/scripts/guest/devmem-init" "$rootfs/sbin/devmem-init"

accel=tcg
[ "${DEVMEM_KVM:-0}" = 1 ] && accel=kvm
append="console=ttyS0 panic=-1 root=rootfs rootfstype=9p"
append+=" rootflags=trans=virtio,version=9p2000.L,msize=512000 rw"
append+=" init=/sbin/devmem-init cma=128M devmem.plan=$plan $*"

if [ "$plan" = shell ]; then
	console=(-chardev "stdio,id=con,mux=on,signal=off,logfile=$run/console.log")
else
	console=(-chardev "file,id=con,path=$run/console.log")
fi
qemu=(
	qemu-system-x86_64 -M q35 -accel "$accel" -m 2G -smp 2
	-display none -no-reboot
	"${console[@]}" -serial chardev:con
	-monitor "unix:$run/monitor.sock,server,nowait"
	-kernel "$build/arch/x86/boot/bzImage" -append "$append"
	-virtfs "local,path=$rootfs,mount_tag=rootfs,security_model=passthrough,id=rootfs"
	-virtfs "local,path=$run,mount_tag=devmem,security_model=none,id=devmem"
	# PCIe switch: root port -> upstream port -> downstream ports.
	-device pcie-root-port,id=rp0,bus=pcie.0,chassis=1
	-device x3130-upstream,id=sw0,bus=rp0
	-device xio3130-downstream,id=sw0p0,bus=sw0,chassis=2,slot=0
	-device xio3130-downstream,id=sw0p1,bus=sw0,chassis=3,slot=1
	-device xio3130-downstream,id=sw0p2,bus=sw0,chassis=4,slot=2
	-object "memory-backend-file,id=vram0,share=on,mem-path=$run/ivshmem0.img,size=64M"
	-device ivshmem-plain,id=ivshmem0,memdev=vram0,bus=sw0p0
	-object "memory-backend-file,id=vram1,share=on,mem-path=$run/ivshmem1.img,size=128M"
	-device ivshmem-plain,id=ivshmem1,memdev=vram1,bus=sw0p2
	# Peer-to-peer importers: an edu next to the ivshmem devices (a route
	# through the switch) and one on the root bus (no route). A 32-bit
	# dma_mask: edu's default 28 bits would fold BAR addresses into RAM.
	-device xio3130-downstream,id=sw0p3,bus=sw0,chassis=5,slot=3
	-device edu,id=edu0,dma_mask=0xffffffff,bus=sw0p3
	-device edu,id=edu1,dma_mask=0xffffffff,bus=pcie.0
)

step "booting the VM, plan '$plan' (console: $run/console.log)"
set +e
if [ "$plan" = shell ]; then
	"${qemu[@]}"
	rc=$?
else
	# QEMU's own messages (edu's "EDU: DMA range ... out of bounds", "hardware
	# error") go to qemu.log, which the summary judges.
	timeout --kill-after=10 "$timeout_s" "${qemu[@]}" </dev/null >"$run/qemu.log" 2>&1 &
	qpid=$!
	# Follow the guest's own progress lines while it runs.
	[ "${DEVMEM_VM_FOLLOW:-1}" = 1 ] && tail -n +1 -F --pid="$qpid" "$run/console.log" 2>/dev/null |
		grep --line-buffered -E 'devmem-guest: ' >&2 &
	wait "$qpid"
	rc=$?
	wait
fi
set -e
done_step
echo "$rc" >"$run/qemu.rc"
if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
	echo "VM timed out after $timeout_s s" >"$run/timeout"
	note "VM run '$plan' timed out after $timeout_s s"
fi
echo "$run"
