#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# make series-check: make series, then build every step of it (bisection
# must never meet a step that does not build). The steps are applied with
# git am onto a full pristine 7.3.4 tree, a git repository of its own in the
# cache (made once from the overlaid tree and the overlay's pristine
# copies), and built one after the other in a build directory of their own,
# each configured as make check's kernel (allnoconfig + the fragment:
# options a step does not have yet are left out), with CLIPPY=1 and
# CONFIG_WERROR. The first step builds the whole kernel; later steps are
# incremental. Prints a line per step and fails on the first that does not
# build (its log stays in runs/series/). SERIES_FROM=N builds from step N on,
# after a fix that changes no earlier step.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

"$DEVMEM_TOP/scripts/series.sh" >/dev/null
ksrc=$("$DEVMEM_TOP/scripts/ksrc.sh")
state=$DEVMEM_CACHE/overlay-state/default
runs=$DEVMEM_CACHE/runs/series
tree=$DEVMEM_CACHE/series-tree
sbuild=$DEVMEM_CACHE/series-build
frag=$DEVMEM_TOP/scripts/devmem-heap.config
git=(git -C "$tree" -c user.name=devmem-heap -c user.email=devmem-heap@localhost)

if [ ! -d "$tree/.git" ]; then
	step "a pristine 7.3.4 tree as a git repository in $tree"
	rm -rf "$tree"
	rsync -a "$ksrc/" "$tree/"
	# Undo the overlay: pristine copies back, the files it added out.
	(cd "$state/orig" && find . -type f -print) | while read -r f; do
		f=${f#./}
		case "$f" in
		*.absent) rm -f "$tree/${f%.absent}" ;;
		*) cp "$state/orig/$f" "$tree/$f" ;;
		esac
	done
	rm -rf "$tree/drivers/dma-buf/devmem"
	"${git[@]}" init -q
	# Debian's tree ignores everything at its top level: add it all by force.
	"${git[@]}" add -A -f
	"${git[@]}" commit -q -m "Linux 7.3.4"
	done_step
fi
base=$("${git[@]}" rev-list --max-parents=0 HEAD)
"${git[@]}" checkout -q -f --detach "$base"
"${git[@]}" clean -fdq
mapfile -t patches < <(find "$runs/series" -name '[0-9]*.patch' ! -name '0000-*' | sort)
"${git[@]}" am -q "${patches[@]}"
mapfile -t steps < <("${git[@]}" rev-list --reverse "$base..HEAD")

export LIBCLANG_PATH=${LIBCLANG_PATH:-/usr/lib/llvm-19/lib}
kmake=(make -C "$tree" O="$sbuild" LLVM=-19 CLIPPY=1 -j"$(nproc)")
mkdir -p "$sbuild"
t0=$(date +%s)
n=0
for c in "${steps[@]}"; do
	n=$((n + 1))
	"${git[@]}" checkout -q --detach "$c"
	subject=$("${git[@]}" log -1 --format=%s "$c")
	if [ "$n" -lt "${SERIES_FROM:-1}" ]; then
		printf '%2d/%d skipped (SERIES_FROM)  %s\n' "$n" "${#steps[@]}" "$subject"
		continue
	fi
	t=$(date +%s)
	log=$runs/step-$n.log
	if "${kmake[@]}" -s KCONFIG_ALLCONFIG="$frag" allnoconfig >"$log" 2>&1 &&
		"${kmake[@]}" -s olddefconfig >>"$log" 2>&1 &&
		"${kmake[@]}" -s bzImage modules >>"$log" 2>&1; then
		printf '%2d/%d builds (%4d s)  %s\n' "$n" "${#steps[@]}" $(($(date +%s) - t)) "$subject"
	else
		printf '%2d/%d FAILS (%4d s)  %s\n' "$n" "${#steps[@]}" $(($(date +%s) - t)) "$subject"
		tail -20 "$log"
		die "step $n of the series does not build (log: $log)"
	fi
done
echo "== series-check: all ${#steps[@]} steps build, in $(($(date +%s) - t0)) s =="
