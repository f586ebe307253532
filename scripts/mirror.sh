# SPDX-License-Identifier: GPL-2.0
#
# Print the Debian archive URI this host's apt already uses, so no mirror host
# name is ever written into the repo. DEVMEM_DEBIAN_MIRROR overrides it.
# Sourced by fetch-kernel.sh and rootfs.sh.

debian_mirror() {
	if [ -n "${DEVMEM_DEBIAN_MIRROR:-}" ]; then
		echo "$DEVMEM_DEBIAN_MIRROR"
		return
	fi
	local codename uri
	codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
	# deb822 files: the URIs of a stanza whose Suites holds the host's release.
	uri=$(awk -v c="$codename" '
		/^[ \t]*$/ { if (u != "" && s) { print u; exit } u = ""; s = 0; next }
		/^URIs:/ { u = $2 }
		/^Suites:/ { for (i = 2; i <= NF; i++) if ($i == c) s = 1 }
		END { if (u != "" && s) print u }' \
		/etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)
	if [ -z "$uri" ]; then
		# One-line format: "deb [opts] URI SUITE COMPONENTS".
		uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
			sed -E 's/\[[^]]*\]//' |
			awk -v c="$codename" '$1 == "deb" && $3 == c { print $2; exit }')
	fi
	[ -n "$uri" ] || die "cannot find this host's Debian mirror in its apt configuration; set DEVMEM_DEBIAN_MIRROR"
	echo "${uri%/}"
}
