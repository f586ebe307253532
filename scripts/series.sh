#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# make series: the project as a git format-patch series against Linux 7.3.4,
# with a cover letter, in runs/series/series/ (scripts/series.py says what
# goes where and what it checks: it applies with git am onto 7.3.4 and gives
# the overlaid tree, and every patch passes checkpatch).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

ksrc=$("$DEVMEM_TOP/scripts/ksrc.sh")
[ -z "${KDIR:-}" ] || die "make series works on the cache's own 7.3.4 tree, not KDIR"
# The overlay brings the tree, and its record of the pristine files, up to date.
"$DEVMEM_TOP/scripts/kernel.sh" >/dev/null
python3 "$DEVMEM_TOP/scripts/series.py" "$DEVMEM_TOP" "$ksrc" \
	"$DEVMEM_CACHE/overlay-state/default" "$DEVMEM_CACHE/runs/series"
