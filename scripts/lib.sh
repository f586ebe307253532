# SPDX-License-Identifier: GPL-2.0
#
# Shared helpers for the devmem-heap harness scripts. Sourced, not run.

# Where everything that is not the repo lives: sources, builds, rootfs, runs.
: "${DEVMEM_CACHE:=$HOME/.cache/devmem-heap}"
export DEVMEM_CACHE
DEVMEM_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export DEVMEM_TOP
export PATH="$HOME/.cargo/bin:$PATH"

# The one kernel this project targets.
KVER_EXPECTED=7.3.4
KSERIES=7.3

# prepare_vm: install what is missing and build what changed, for a script
# that boots the VM: sets ksrc, and exports DEVMEM_BUILD and DEVMEM_ROOTFS.
prepare_vm() {
	"$DEVMEM_TOP/scripts/bootstrap.sh"
	ksrc=$("$DEVMEM_TOP/scripts/ksrc.sh")
	DEVMEM_BUILD=$("$DEVMEM_TOP/scripts/kernel.sh")
	DEVMEM_ROOTFS=$("$DEVMEM_TOP/scripts/rootfs.sh")
	export DEVMEM_BUILD DEVMEM_ROOTFS
}

die() {
	echo "devmem-heap: error: $*" >&2
	exit 1
}

note() {
	echo "devmem-heap: $*" >&2
}

# step "what" ... done_step: print what a long step does and how long it took.
step() {
	_step_what=$*
	_step_t0=$(date +%s)
	echo ">>> $_step_what ..." >&2
}

done_step() {
	echo ">>> $_step_what: done in $(($(date +%s) - _step_t0)) s" >&2
}
