"""The MinHash fold written with explicit 8-lane vectors, so that it runs on 512-bit registers.

The fold keeps, per permutation i, the minimum of (a_i * x) mod 2^52 over the shingle hashes x
(`minhash`: "multiply-shift-52-hi32"). numba's LLVM vectorises such a loop over permutations by
itself, but at most 256 bits wide (on AVX-512 CPUs LLVM prefers 256-bit vectors for the code it
vectorises), so it multiplies 4 permutations at a time. A vector type in the IR is another
matter: LLVM lowers an 8 x i64 operation to one 512-bit instruction where the CPU has AVX-512,
and to two 256-bit or four 128-bit ones where it does not.

The product: where the CPU has AVX-512 IFMA (Ice Lake and later Intel, AMD Zen 4 and later),
one vpmadd52luq gives the low 52 bits of the 52 x 52-bit products of 8 lanes, a single
instruction where the 64-bit product, vpmullq, is three (measured on the 2-core Xeon: the fold
alone 74-76 M shingles/s with vpmullq and a 64-bit family, 118-120 M/s with vpmadd52luq, both 8
shingles a pass).
Elsewhere the same values come from the 64-bit product masked to 52 bits: (a * x mod 2^64) mod
2^52 = (a * x) mod 2^52, as a_i < 2^52 and only x's low 52 bits matter. Integer arithmetic,
lane by lane: the same signatures on every CPU.

`fold_lanes` is a numba intrinsic: the vector IR is emitted into the njit function that calls it.
numba's on-disk cache (`@njit(cache=True)` in minhash.py) is keyed on the calling file's
timestamp, not on this one; `kernel_cache.refresh_kernel_cache` (called as minhash.py is
imported) empties minhash.py's cache when this file or another it depends on changes. The cache
also records the CPU it compiled for, so a machine with IFMA and one without each get their own
code.
"""

from __future__ import annotations

from typing import Any, Final

from llvmlite import binding, ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

LANES: Final = 8  # permutations a vector: 8 x uint64 = 512 bits
# Shingles folded a pass over the permutations: a and sig are loaded and stored once for them.
# 16 (measured, fold alone, English: 8 127 M shingles/s, 12 163, 16 184, 24 187, 32 170).
SHINGLES: Final = 16
BITS: Final = 52  # the ring of the products: vpmadd52luq's width
MASK: Final = (1 << BITS) - 1
_IFMA = "llvm.x86.avx512.vpmadd52l.uq.512"

_I64 = ir.IntType(64)
_VEC = ir.VectorType(_I64, LANES)
_LANE0 = ir.Constant(ir.IntType(32), 0)


def _contiguous_u64(ty: Any) -> bool:
    return isinstance(ty, types.Array) and ty.dtype == types.uint64 and ty.layout == "C"


def has_ifma() -> bool:
    """Whether numba compiles for a CPU with AVX-512 IFMA (it compiles for the host's)."""
    return bool(binding.get_host_cpu_features().get("avx512ifma"))


@intrinsic
def fold_lanes(typingctx: Any, sig: Any, a: Any, hashes: Any, j: Any, m: Any) -> Any:
    """sig = min(sig, (a * x) mod 2^52) (lane-wise, over all of a: a whole number of 8-lane
    vectors) for each of the hashes x = hashes[j], ..., hashes[j + SHINGLES - 1]; an index at or
    past m reads hashes[m - 1] again (a repeated x leaves a minimum as it is), so m > j is all
    the caller must ensure.

    All arrays are C-contiguous uint64; sig as long as a; a_i < 2^52. The SHINGLES hashes are
    loaded and broadcast once, then stay in registers while a loop goes over the vectors of a
    and sig (16 of them and the tree of minima fit in AVX-512's 32 registers).
    """
    if not all(_contiguous_u64(t) for t in (sig, a, hashes)):
        return None
    if not all(isinstance(t, types.Integer) for t in (j, m)):
        return None

    def codegen(context: Any, builder: ir.IRBuilder, signature: Any, args: Any) -> Any:
        arrays = [
            context.make_array(signature.args[k])(context, builder, args[k]) for k in range(3)
        ]
        sig_p, a_p, h_p = (arr.data for arr in arrays)
        vectors = builder.udiv(builder.extract_value(arrays[1].shape, 0), ir.Constant(_I64, LANES))
        j_v, m_v = (context.cast(builder, args[k], signature.args[k], types.int64) for k in (3, 4))
        undef = ir.Constant(_VEC, ir.Undefined)
        splat = ir.Constant(ir.VectorType(ir.IntType(32), LANES), [0] * LANES)
        zero = ir.Constant(_VEC, [0] * LANES)
        mask = ir.Constant(_VEC, [MASK] * LANES)
        ifma = has_ifma()
        if ifma:
            madd52 = builder.module.declare_intrinsic(
                _IFMA, fnty=ir.FunctionType(_VEC, [_VEC, _VEC, _VEC])
            )
        last = builder.sub(m_v, ir.Constant(_I64, 1))
        xs = []
        for k in range(SHINGLES):
            idx = builder.add(j_v, ir.Constant(_I64, k))
            idx = builder.select(builder.icmp_signed("<", idx, m_v), idx, last)
            x = builder.load(builder.gep(h_p, [idx], inbounds=True), align=8, typ=_I64)
            xs.append(
                builder.shuffle_vector(builder.insert_element(undef, x, _LANE0), undef, splat)
            )

        def vmin(u: ir.Value, v: ir.Value) -> ir.Value:
            return builder.select(builder.icmp_unsigned("<", u, v), u, v)

        with cgutils.for_range(builder, vectors) as loop:
            at = builder.mul(loop.index, ir.Constant(_I64, LANES))

            def vec_ptr(ptr: ir.Value) -> ir.Value:
                return builder.bitcast(builder.gep(ptr, [at], inbounds=True), _VEC.as_pointer())

            va = builder.load(vec_ptr(a_p), align=8, typ=_VEC)
            vals = [builder.load(vec_ptr(sig_p), align=8, typ=_VEC)]
            for vx in xs:
                if ifma:  # 0 + the low 52 bits of a * x (of their low 52 bits)
                    vals.append(builder.call(madd52, [zero, va, vx]))
                else:
                    vals.append(builder.and_(builder.mul(va, vx), mask))
            while len(vals) > 1:  # a tree of minima: independent compares, not one chain
                pairs = zip(vals[0::2], vals[1::2], strict=False)  # an odd one out waits a round
                vals = [vmin(u, v) for u, v in pairs] + vals[len(vals) & ~1 :]
            builder.store(vals[0], vec_ptr(sig_p), align=8)
        return context.get_dummy_value()

    return types.none(sig, a, hashes, j, m), codegen
