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
# QEMU monitor listens on monitor.sock there, QMP on qmp.sock. The whole run
# is bounded by DEVMEM_VM_TIMEOUT seconds.
#
# The ivshmem devices can be hot-unplugged and plugged in again from inside
# the guest (not in plan "shell"): scripts/hotplug-agent.py runs next to
# QEMU, takes requests from /devmem/hotplug/ and logs to hotplug.log; the
# guest's client is /devmem/hotplug-request. The switch's downstream ports
# use native PCIe hotplug (pciehp).

# The commas in arrays below are QEMU's option syntax, not misspelt array
# separators.
# shellcheck disable=SC2054
set -euo pipefail
. "$(dirname "$0")/lib.sh"

plan=${1:?usage: vm.sh PLAN [kernel args...]}
shift
build=${DEVMEM_BUILD:?run scripts/kernel.sh first and set DEVMEM_BUILD}
rootfs=${DEVMEM_ROOTFS:?run scripts/rootfs.sh first and set DEVMEM_ROOTFS}
timeout_s=${DEVMEM_VM_TIMEOUT:-900}
run=$DEVMEM_CACHE/runs/$plan

# The hot-pluggable ivshmem devices, one per line: qdev id, downstream port,
# memory backend id, backing file in the run directory, size. QEMU's command
# line and the hotplug agent, which re-creates a device as it was at boot,
# both take them from here.
# DEVMEM_IVSHMEM0_SIZE sizes the first one (make bench: 1G). With
# DEVMEM_IVSHMEM_DIR set, the backing files are made there (make bench: a
# tmpfs) and linked from the run directory, where everything reads them.
ivshmem_devices=(
	"ivshmem0 sw0p0 vram0 ivshmem0.img ${DEVMEM_IVSHMEM0_SIZE:-64M}"
	"ivshmem1 sw0p2 vram1 ivshmem1.img 128M"
)

# A fresh run directory: results of an earlier run must never be read as
# this run's. The ivshmem backing files start zeroed.
rm -rf "$run"
mkdir -p "$run"/{results,tests,modules,hotplug}
install -m 0755 "$DEVMEM_TOP/scripts/guest/init.sh" "$run/init.sh"
# Not "hotplug": that is the request directory.
install -m 0755 "$DEVMEM_TOP/scripts/guest/hotplug" "$run/hotplug-request"
cp "$DEVMEM_TOP/scripts/guest/igt.list" "$run/igt.list"
# Plan "script" runs a script of the developer's: DEVMEM_VM_SCRIPT=file.
[ -z "${DEVMEM_VM_SCRIPT:-}" ] || install -m 0755 "$DEVMEM_VM_SCRIPT" "$run/script.sh"
cp -r "$build"/devmem-tests/* "$run/tests/"
find "$build" -name '*.ko' -exec cp {} "$run/modules/" \;
mkdir -p "$rootfs/devmem" "$rootfs/sbin"
cmp -s "$DEVMEM_TOP/scripts/guest/devmem-init" "$rootfs/sbin/devmem-init" ||
	install -m 0755 "$DEVMEM_TOP/scripts/guest/devmem-init" "$rootfs/sbin/devmem-init"

accel=tcg
[ "${DEVMEM_KVM:-0}" = 1 ] && accel=kvm
append="console=ttyS0 panic=-1 root=rootfs rootfstype=9p"
append+=" rootflags=trans=virtio,version=9p2000.L,msize=512000 rw"
append+=" init=/sbin/devmem-init cma=128M devmem.plan=$plan"
# Without CONFIG_PCI_MMCONFIG (allnoconfig leaves it off) the kernel has no
# extended config space, so it does not ask _OSC for control of the ports
# and pciehp never binds: a device_del would wait forever. Take them.
append+=" pcie_ports=native $*"

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
	-qmp "unix:$run/qmp.sock,server=on,wait=off"
	# q35 hands bridge slots to ACPI hotplug by default, and the kernel has
	# no ACPI hotplug driver: unplug would never complete. Off, the
	# downstream ports use native PCIe hotplug.
	-global ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off
	-kernel "$build/arch/x86/boot/bzImage" -append "$append"
	-virtfs "local,path=$rootfs,mount_tag=rootfs,security_model=passthrough,id=rootfs"
	-virtfs "local,path=$run,mount_tag=devmem,security_model=none,id=devmem"
	# PCIe switch: root port -> upstream port -> downstream ports.
	-device pcie-root-port,id=rp0,bus=pcie.0,chassis=1
	-device x3130-upstream,id=sw0,bus=rp0
	-device xio3130-downstream,id=sw0p0,bus=sw0,chassis=2,slot=0
	-device xio3130-downstream,id=sw0p1,bus=sw0,chassis=3,slot=1
	-device xio3130-downstream,id=sw0p2,bus=sw0,chassis=4,slot=2
)
agent=("$DEVMEM_TOP/scripts/hotplug-agent.py" "$run")
for dev in "${ivshmem_devices[@]}"; do
	read -r id bus memdev file size <<<"$dev"
	if [ -n "${DEVMEM_IVSHMEM_DIR:-}" ]; then
		mkdir -p "$DEVMEM_IVSHMEM_DIR"
		rm -f "$DEVMEM_IVSHMEM_DIR/$plan-$file"
		ln -s "$DEVMEM_IVSHMEM_DIR/$plan-$file" "$run/$file"
	fi
	truncate -s "$size" "$run/$file"
	qemu+=(
		-object "memory-backend-file,id=$memdev,share=on,mem-path=$run/$file,size=$size"
		-device "ivshmem-plain,id=$id,memdev=$memdev,bus=$bus"
	)
	agent+=(--ivshmem "$id" "$bus" "$memdev" "$run/$file" "$size")
done
qemu+=(
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
	# It waits for QEMU's QMP socket and exits when QEMU does.
	"${agent[@]}" --qemu-pid "$qpid" </dev/null >"$run/hotplug.log" 2>&1 &
	apid=$!
	# Follow the guest's own progress lines while it runs.
	[ "${DEVMEM_VM_FOLLOW:-1}" = 1 ] && tail -n +1 -F --pid="$qpid" "$run/console.log" 2>/dev/null |
		grep --line-buffered -E 'devmem-guest: ' >&2 &
	wait "$qpid"
	rc=$?
	wait "$apid" || note "the hotplug agent failed (see $run/hotplug.log)"
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
