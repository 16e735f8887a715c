#!/bin/sh
# Builds the inference engine's kernels (src/lm/infer/{pool,simd,kernels,q8_panels}.rs, std only) alone for
# aarch64 and runs their tests under qemu: the NEON path against the scalar one, on an x86-64
# machine. Needs: rustup target add aarch64-unknown-linux-gnu; apt install qemu-user
# gcc-aarch64-linux-gnu libc6-dev-arm64-cross.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat > "$dir/lib.rs" <<RS
#[path = "$root/src/lm/infer/pool.rs"]
mod pool;
#[path = "$root/src/lm/infer/simd.rs"]
mod simd;
#[path = "$root/src/lm/infer/kernels.rs"]
mod kernels;
#[path = "$root/src/lm/infer/q8_panels.rs"]
mod q8_panels;
RS
# The pool asks rayon for the thread count; a stand-in keeps this build std-only.
echo 'pub fn current_num_threads() -> usize { 2 }' > "$dir/rayon.rs"
rustc --edition 2024 --crate-type rlib --target aarch64-unknown-linux-gnu \
    -o "$dir/librayon.rlib" "$dir/rayon.rs"
rustc --edition 2024 --test -O --target aarch64-unknown-linux-gnu \
    -C linker=aarch64-linux-gnu-gcc --extern rayon="$dir/librayon.rlib" \
    -o "$dir/kernels" "$dir/lib.rs"
qemu-aarch64 -L /usr/aarch64-linux-gnu "$dir/kernels" --nocapture "$@"
