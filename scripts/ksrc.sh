#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Resolve the kernel tree to build: KDIR if set (it must be a clean Linux
# 7.3.4 tree), else Debian's linux-source-7.3 in the cache, fetched on first
# use. Prints its path.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

if [ -z "${KDIR:-}" ]; then
	exec "$DEVMEM_TOP/scripts/fetch-kernel.sh"
fi
ksrc=$(cd "$KDIR" 2>/dev/null && pwd) || die "KDIR=$KDIR is not a directory"
[ -f "$ksrc/Makefile" ] || die "KDIR=$ksrc is not a kernel tree (no Makefile)"
kver=$(awk '/^VERSION =/{v=$3} /^PATCHLEVEL =/{p=$3} /^SUBLEVEL =/{s=$3} END{print v"."p"."s}' "$ksrc/Makefile")
[ "$kver" = "$KVER_EXPECTED" ] ||
	die "KDIR=$ksrc is Linux $kver; devmem-heap targets Linux $KVER_EXPECTED exactly"
[ ! -f "$ksrc/.config" ] ||
	die "KDIR=$ksrc has a .config; the build is out of tree (O=), so run 'make mrproper' there first"
echo "$ksrc"
