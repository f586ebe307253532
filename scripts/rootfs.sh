#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Build (once) the guest's root filesystem: Debian sid, minbase, with the
# IGT 2.5 tests. It is served to the guest over virtio-9p. Prints its path.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mirror.sh"

# Bump when the package list changes, so caches rebuild.
ROOTFS_REV=1
rootfs=$DEVMEM_CACHE/rootfs
stamp=$rootfs/.devmem-rootfs-$ROOTFS_REV
if [ -f "$stamp" ]; then
	echo "$rootfs"
	exit 0
fi
[ "$(id -u)" -eq 0 ] || die "debootstrap needs root to build $rootfs"

step "debootstrap Debian sid (minbase + igt-gpu-tools-tests) into $rootfs"
rm -rf "$rootfs.new"
debootstrap --variant=minbase --include=igt-gpu-tools-tests,kmod,busybox \
	sid "$rootfs.new" "$(debian_mirror)" >"$DEVMEM_CACHE/debootstrap.log" 2>&1 ||
	{ tail -n 30 "$DEVMEM_CACHE/debootstrap.log" >&2; die "debootstrap failed (log: $DEVMEM_CACHE/debootstrap.log)"; }
# Nothing in the guest needs the package cache or the docs.
rm -rf "$rootfs.new"/var/cache/apt/archives/*.deb "$rootfs.new"/usr/share/doc/* "$rootfs.new"/usr/share/man/*
mkdir -p "$rootfs.new/devmem"
rm -rf "$rootfs"
mv "$rootfs.new" "$rootfs"
touch "$stamp"
done_step
echo "$rootfs"
