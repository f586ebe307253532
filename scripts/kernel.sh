#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Prepare and build the test kernel: resolve the tree (the cached Debian
# linux-source, or KDIR), overlay the project onto it, configure it from
# scripts/devmem-heap.config, verify the config, then build bzImage, modules,
# the uAPI headers, the component once more in a minimal configuration, the
# kernel crate's rustdoc, and the host-built guest test programs. Incremental: only
# what changed is rebuilt. Prints the build directory.
#
# kernel.sh bench: make bench's kernel, in a build directory of its own. It is
# the test kernel without the debugging that costs every lock, sleep and slab
# allocation (lockdep and the lock debugging it selects, might_sleep's checks,
# kmemleak), which a benchmark would otherwise mostly measure; bzImage,
# modules, headers and the guest programs only.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

flavour=${1:-test}
case "$flavour" in test | bench) ;; *) die "usage: kernel.sh [bench]" ;; esac

"$DEVMEM_TOP/scripts/bootstrap.sh"

ksrc=$("$DEVMEM_TOP/scripts/ksrc.sh")
id=default
[ -z "${KDIR:-}" ] || id=kdir-$(echo -n "$ksrc" | sha1sum | cut -c1-12)
build=$DEVMEM_CACHE/build
[ "$id" = default ] || build=$DEVMEM_CACHE/build-$id
[ "$flavour" = test ] || build=$build-$flavour
mkdir -p "$build"
export LIBCLANG_PATH=${LIBCLANG_PATH:-/usr/lib/llvm-19/lib}
# CLIPPY=1: every Rust object is linted as it is built; with CONFIG_WERROR a
# clippy or compiler warning fails the build.
kmake=(make -C "$ksrc" O="$build" LLVM=-19 -j"$(nproc)")
# The bench kernel's sources are the test kernel's: linted there.
[ "$flavour" = bench ] || kmake+=(CLIPPY=1)

# Overlay: project files into the tree, written only where they differ.
changed=$(python3 "$DEVMEM_TOP/scripts/overlay.py" --repo "$DEVMEM_TOP" --tree "$ksrc" \
	--state "$DEVMEM_CACHE/overlay-state/$id")
[ -z "$changed" ] || note "overlay updated: $(echo "$changed" | tr '\n' ' ')"

# Config: regenerate when the fragment or any overlaid Kconfig changed.
frag=$DEVMEM_TOP/scripts/devmem-heap.config
if [ "$flavour" = bench ]; then
	grep -vE '^CONFIG_(PROVE_LOCKING|DEBUG_ATOMIC_SLEEP|DEBUG_KMEMLEAK)=' "$frag" >"$build/devmem-heap.config"
	frag=$build/devmem-heap.config
fi
sum=$( (cat "$frag"; find "$ksrc/drivers/dma-buf" -name Kconfig -print0 | sort -z | xargs -0 cat) | sha1sum | cut -c1-40)
if [ ! -f "$build/.config" ] || [ "$(cat "$build/.devmem-config-sum" 2>/dev/null)" != "$sum" ]; then
	step "configuring: allnoconfig + $(basename "$frag"), olddefconfig"
	"${kmake[@]}" -s rustavailable >/dev/null ||
		{ "${kmake[@]}" rustavailable || true; die "the kernel's 'make rustavailable' says no (see above)"; }
	"${kmake[@]}" -s KCONFIG_ALLCONFIG="$frag" allnoconfig >/dev/null
	"${kmake[@]}" -s olddefconfig >/dev/null
	echo "$sum" >"$build/.devmem-config-sum"
	done_step
fi
dropped=$(grep -E '^(CONFIG_[A-Za-z0-9_]+=.*|# CONFIG_[A-Za-z0-9_]+ is not set)$' "$frag" | while read -r line; do
	case "$line" in
	"# "*) sym=${line#\# }; sym=${sym%% *}; grep -q "^$sym=" "$build/.config" && echo "$sym (wanted: not set)" ;;
	*) grep -qxF "$line" "$build/.config" || echo "$line (got: $(grep -E "^(# )?${line%%=*}[= ]" "$build/.config" || echo absent))" ;;
	esac
done)
[ -z "$dropped" ] || { rm -f "$build/.devmem-config-sum"; die "olddefconfig dropped symbols the fragment asks for (unmet dependencies?):
$dropped"; }

step "building the kernel (bzImage, modules, headers) in $build"
"${kmake[@]}" -s bzImage modules headers
done_step

# Checks only the test kernel needs.
if [ "$flavour" = test ]; then
	# The component must also build, warning-free, without its options that the
	# test kernel turns on: no KUnit suite, no test importer and no PCI
	# peer-to-peer DMA. Only its
	# directory is compiled, in a build directory of its own.
	alt=$build-minimal
	mkdir -p "$alt"
	if ! cmp -s "$build/.config" "$alt/.devmem-from-config"; then
		cp "$build/.config" "$alt/.config"
		"$ksrc/scripts/config" --file "$alt/.config" -d DEVMEM_HEAP_KUNIT_TEST -d DEVMEM_HEAP_VMAP_CHECK -d PCI_P2PDMA
		make -C "$ksrc" O="$alt" LLVM=-19 -s olddefconfig >/dev/null
		cp "$build/.config" "$alt/.devmem-from-config"
	fi
	step "building drivers/dma-buf/devmem/ without KUnit, vmap_check and P2PDMA in $alt"
	make -C "$ksrc" O="$alt" LLVM=-19 CLIPPY=1 -j"$(nproc)" -s drivers/dma-buf/devmem/
	done_step

	# The kernel crate's documentation, the project's abstractions with it, must
	# build: rustdoc denies warnings such as broken intra-doc links.
	step "rustdoc of the kernel crate"
	"${kmake[@]}" -s rustdoc >/dev/null
	done_step
	# And the framework's own crate, with the flags it was compiled with.
	step "rustdoc of the devmem_heap crate"
	python3 "$DEVMEM_TOP/scripts/rustdoc-crate.py" "$build" \
		drivers/dma-buf/devmem/devmem_heap/devmem_heap.o "$build/Documentation/output/rust/devmem_heap"
	done_step
fi

# Guest test programs, built on the host against the fresh uAPI headers.
tests=$build/devmem-tests
sums=$build/devmem-tests-built-from
mkdir -p "$tests" "$sums"
make -s -C "$ksrc/tools/testing/selftests/dmabuf-heaps" OUTPUT="$tests" \
	KHDR_INCLUDES="-isystem $build/usr/include" >/dev/null
# The project's own selftests (KTAP, on the kernel's kselftest.h), its IGT
# tests (igt_tests/, on its own igt.h) in igt/, IGT's runner's test root,
# the demo's programs (vkms_demo/*.c, on igt_tests/'s headers) in demo/, and
# make bench's (scripts/bench/*.c, on selftests/' headers) in bench/.
# A program whose source is gone is removed, so the guest never runs it.
mkdir -p "$tests/igt" "$sums/igt" "$tests/demo" "$sums/demo" "$tests/bench" "$sums/bench"
for bin in "$tests"/* "$tests"/igt/* "$tests"/demo/* "$tests"/bench/*; do
	name=$(basename "$bin")
	case "$bin" in
	"$tests"/igt/*)
		[ "$name" = test-list.txt ] || [ -e "$DEVMEM_TOP/igt_tests/$name.c" ] || rm -f "$bin" ;;
	"$tests"/demo/*)
		[ -e "$DEVMEM_TOP/vkms_demo/$name.c" ] || rm -f "$bin" ;;
	"$tests"/bench/*)
		[ -e "$DEVMEM_TOP/scripts/bench/$name.c" ] || rm -f "$bin" ;;
	*)
		[ "$name" = dmabuf-heap ] || [ "$name" = igt ] || [ "$name" = demo ] ||
			[ "$name" = bench ] ||
			[ -e "$DEVMEM_TOP/selftests/$name.c" ] || rm -f "$bin" ;;
	esac
done
# A program is rebuilt when its sources' content differs from what it was
# built from (a cache shared by two checkouts sees older sources with newer
# times), or the uAPI headers are newer than it.
for src in "$DEVMEM_TOP"/selftests/*.c "$DEVMEM_TOP"/igt_tests/*.c \
	"$DEVMEM_TOP"/vkms_demo/*.c "$DEVMEM_TOP"/scripts/bench/*.c; do
	[ -e "$src" ] || continue
	dir=$(dirname "$src")
	case "$dir" in
	*/selftests) bin=$tests/$(basename "$src" .c) hdrs=$dir ;;
	*/igt_tests) bin=$tests/igt/$(basename "$src" .c) hdrs=$dir ;;
	*/bench) bin=$tests/bench/$(basename "$src" .c) hdrs=$DEVMEM_TOP/selftests ;;
	*) bin=$tests/demo/$(basename "$src" .c) hdrs=$DEVMEM_TOP/igt_tests ;;
	esac
	sum=$(cat "$src" "$hdrs"/*.h "$DEVMEM_TOP"/vkms_demo/*.h 2>/dev/null |
		sha1sum | cut -c1-40)
	if [ -e "$bin" ] && [ "$bin" -nt "$build/usr/include" ] &&
		[ "$(cat "$sums/${bin#"$tests"/}" 2>/dev/null)" = "$sum" ]; then
		continue
	fi
	gcc -static -O2 -Wall -Wextra -Werror -pthread -I "$ksrc/tools/testing/selftests" \
		-I "$hdrs" -isystem "$build/usr/include" -o "$bin" "$src"
	echo "$sum" >"$sums/${bin#"$tests"/}"
done
# igt_runner only runs programs its test root's test-list.txt names.
{
	echo TESTLIST
	for bin in "$tests"/igt/*; do
		[ "${bin##*/}" = test-list.txt ] || printf '%s ' "${bin##*/}"
	done
	printf '\nEND TESTLIST\n'
} >"$tests/igt/test-list.txt"
echo "$build"
