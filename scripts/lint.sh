#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Static checks of the project's own files, run first by make check:
# rustfmt with the kernel's settings, checkpatch --strict on C files and
# patches, kernel-doc -Wall on the C face, no raw bindings outside rust/, a SAFETY comment on every unsafe
# block, no panicking helpers. Clippy runs in the kernel build itself
# (CLIPPY=1 with CONFIG_WERROR). Usage: lint.sh KERNEL_TREE
set -euo pipefail
. "$(dirname "$0")/lib.sh"

ksrc=${1:?usage: lint.sh KERNEL_TREE}
cd "$DEVMEM_TOP"
bad=0
fail() {
	echo "lint: $*" >&2
	bad=1
}

mapfile -t rs < <(git ls-files -co --exclude-standard '*.rs')
mapfile -t cfiles < <(git ls-files -co --exclude-standard '*.c' '*.h')
mapfile -t patches < <(git ls-files -co --exclude-standard 'patches/*.patch')

if [ ${#rs[@]} -gt 0 ]; then
	rustfmt --check --config-path "$ksrc/.rustfmt.toml" --edition 2021 "${rs[@]}" >&2 ||
		fail "rustfmt: run 'rustfmt --config-path $ksrc/.rustfmt.toml --edition 2021' on the files above"
fi

cp_opts=(--strict --no-tree --quiet --show-types --ignore FILE_PATH_CHANGES)
# checkpatch runs outside the repo: inside a git work tree it reads a patch
# file as a source file.
for f in "${cfiles[@]}"; do
	(cd / && "$ksrc/scripts/checkpatch.pl" "${cp_opts[@]}" -f "$DEVMEM_TOP/$f") >&2 ||
		fail "checkpatch: $f"
done
for p in "${patches[@]}"; do
	(cd / && "$ksrc/scripts/checkpatch.pl" --strict --no-tree --quiet "$DEVMEM_TOP/$p") >&2 ||
		fail "checkpatch: $p"
done

# kernel-doc of the C face: the headers, and the functions exported to modules.
mapfile -t kdoc < <(git ls-files -co --exclude-standard 'include/*.h' '*/exports.c')
if [ ${#kdoc[@]} -gt 0 ]; then
	"$ksrc/scripts/kernel-doc" -none -Wall -Werror "${kdoc[@]}" >&2 ||
		fail "kernel-doc: the comments of the C face (above)"
fi

# Raw bindings belong in the kernel-crate abstractions (rust/) only.
raw=$(grep -n 'bindings::' "${rs[@]}" /dev/null | grep -v '^rust/' || true)
[ -z "$raw" ] || fail "raw bindings:: outside rust/:
$raw"

# Every unsafe block has a // SAFETY: comment on its line or the comment lines above it.
nosafety=$(awk '
	FNR == 1 { delete l }
	{ l[FNR] = $0 }
	/unsafe *\{/ && $0 !~ /unsafe (fn|impl|extern)/ {
		ok = ($0 ~ /SAFETY:/)
		for (i = FNR - 1; i > 0 && l[i] ~ /^[ \t]*(\/\/|#)/; i--)
			if (l[i] ~ /SAFETY:/) ok = 1
		if (!ok) print FILENAME ":" FNR
	}' "${rs[@]}" /dev/null)
[ -z "$nosafety" ] || fail "unsafe blocks without a // SAFETY: comment:
$nosafety"

# rustfmt does not wrap comments; checkpatch, on the series, wants them within 100 columns.
long=$(awk 'length > 100 && /^[ \t]*\/\// { print FILENAME ":" FNR }' "${rs[@]}" /dev/null)
[ -z "$long" ] || fail "Rust comments over 100 columns:
$long"

panics=$(grep -nE '\.unwrap\(\)|\.expect\(|panic!\(' "${rs[@]}" /dev/null | grep -vE '^[^:]+:[0-9]+:\s*//' || true)
[ -z "$panics" ] || fail "unwrap/expect/panic in kernel Rust (return a Result):
$panics"

[ "$bad" -eq 0 ] && echo "lint: ${#rs[@]} Rust files, ${#cfiles[@]} C files, ${#patches[@]} patches clean" >&2
exit "$bad"
