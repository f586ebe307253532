#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Fetch Debian's linux-source-7.3 through a private apt state directory (the
# host's own apt sources, lists and pins are never touched) and extract it
# once into the cache. Prints the tree's path.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mirror.sh"

src=$DEVMEM_CACHE/src/linux-$KVER_EXPECTED
if [ -f "$src/.devmem-extracted" ]; then
	echo "$src"
	exit 0
fi

suite=${DEVMEM_KERNEL_SUITE:-trixie-backports}
apt_dir=$DEVMEM_CACHE/apt
mkdir -p "$apt_dir"/{lists/partial,archives/partial,etc/sources.list.d,etc/preferences.d,deb}
: >"$apt_dir/status"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(debian_mirror) $suite main" \
	>"$apt_dir/etc/sources.list"
apt_opts=(
	-o "Dir::State=$apt_dir"
	-o "Dir::State::Lists=$apt_dir/lists"
	-o "Dir::State::status=$apt_dir/status"
	-o "Dir::Cache=$apt_dir"
	-o "Dir::Cache::archives=$apt_dir/archives"
	-o "Dir::Etc::SourceList=$apt_dir/etc/sources.list"
	-o "Dir::Etc::SourceParts=$apt_dir/etc/sources.list.d"
	-o "Dir::Etc::Preferences=$apt_dir/etc/preferences"
	-o "Dir::Etc::PreferencesParts=$apt_dir/etc/preferences.d"
	-o "APT::Sandbox::User=$(id -un)"
	-o "Debug::NoLocking=1"
	-q
)

step "fetching linux-source-$KSERIES from $suite (private apt state in $apt_dir)"
apt-get "${apt_opts[@]}" update >/dev/null
(cd "$apt_dir/deb" && rm -f ./*.deb && apt-get "${apt_opts[@]}" download "linux-source-$KSERIES" >/dev/null)
deb=$(ls "$apt_dir"/deb/linux-source-"$KSERIES"_*.deb)
done_step

step "extracting $(basename "$deb")"
tmp=$DEVMEM_CACHE/src/.extract.$$
rm -rf "$tmp"
mkdir -p "$tmp"
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" --wildcards '*/linux-source-*.tar.xz'
tar -xJf "$tmp"/usr/src/linux-source-"$KSERIES".tar.xz -C "$tmp"
rm -rf "$src"
mv "$tmp/linux-source-$KSERIES" "$src"
rm -rf "$tmp"
# The .deb is only a carrier: keep the extracted tree, drop the 167 MB archive.
rm -f "$deb"
touch "$src/.devmem-extracted"
done_step
echo "$src"
