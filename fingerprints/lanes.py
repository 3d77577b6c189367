"""The MinHash fold written with explicit 8-lane vectors, so that it runs on 512-bit registers.

numba's LLVM vectorises the fold's loop over permutations by itself, but at most 256 bits wide:
on AVX-512 CPUs LLVM prefers 256-bit vectors for the code it vectorises (Intel's clock-speed
advice for older chips), so it multiplies 4 permutations at a time. A vector type in the IR
is another matter: LLVM lowers an 8 x i64 multiply to one 512-bit vpmullq where the CPU has
AVX-512 (twice the permutations a multiply; the multiplies bound the fold), and to two 256-bit
or four 128-bit ones where it does not. The result is the same everywhere: integer arithmetic
mod 2^64, lane by lane.

`fold_lanes` is a numba intrinsic: the vector IR is emitted into the njit function that calls it.
numba's on-disk cache (`@njit(cache=True)` in minhash.py) is keyed on the calling file's
timestamp, not on this one: after editing this file, touch minhash.py (or delete the .nbi/.nbc
files in fingerprints/__pycache__), or the previous version's compiled code is loaded. An
installed release has fresh files either way.
"""

from __future__ import annotations

from typing import Any, Final

from llvmlite import ir
from numba import types
from numba.extending import intrinsic

LANES: Final = 8  # permutations a vector: 8 x uint64 = 512 bits
SHINGLES: Final = 8  # shingles folded a pass over the permutations (a, b, sig loaded once)

_I64 = ir.IntType(64)
_VEC = ir.VectorType(_I64, LANES)
_LANE0 = ir.Constant(ir.IntType(32), 0)


def _contiguous_u64(ty: Any) -> bool:
    return isinstance(ty, types.Array) and ty.dtype == types.uint64 and ty.layout == "C"


@intrinsic
def fold_lanes(
    typingctx: Any, sig: Any, a: Any, b: Any, i: Any, hashes: Any, j: Any, m: Any
) -> Any:
    """sig[i:i+8] = min(sig[i:i+8], a[i:i+8] * x + b[i:i+8]) (mod 2^64, lane-wise) for each of
    the hashes x = hashes[j], ..., hashes[j+7]; an index at or past m reads hashes[m - 1] again
    (a repeated x leaves a minimum as it is), so m > j is all the caller must ensure.

    All arrays are C-contiguous uint64; sig, a and b have room for 8 lanes from i.
    """
    if not all(_contiguous_u64(t) for t in (sig, a, b, hashes)):
        return None
    if not all(isinstance(t, types.Integer) for t in (i, j, m)):
        return None

    def codegen(context: Any, builder: ir.IRBuilder, signature: Any, args: Any) -> Any:
        arr_types = [signature.args[k] for k in (0, 1, 2, 4)]
        arr_values = [args[k] for k in (0, 1, 2, 4)]
        sig_p, a_p, b_p, h_p = (
            context.make_array(t)(context, builder, v).data
            for t, v in zip(arr_types, arr_values, strict=True)
        )
        i_v, j_v, m_v = (
            context.cast(builder, args[k], signature.args[k], types.int64) for k in (3, 5, 6)
        )
        undef = ir.Constant(_VEC, ir.Undefined)
        splat = ir.Constant(ir.VectorType(ir.IntType(32), LANES), [0] * LANES)

        def vec_ptr(ptr: ir.Value) -> ir.Value:
            return builder.bitcast(builder.gep(ptr, [i_v], inbounds=True), _VEC.as_pointer())

        def vmin(u: ir.Value, v: ir.Value) -> ir.Value:
            return builder.select(builder.icmp_unsigned("<", u, v), u, v)

        va, vb = (builder.load(vec_ptr(p), align=8, typ=_VEC) for p in (a_p, b_p))
        vals = [builder.load(vec_ptr(sig_p), align=8, typ=_VEC)]
        last = builder.sub(m_v, ir.Constant(_I64, 1))
        for k in range(SHINGLES):
            idx = builder.add(j_v, ir.Constant(_I64, k))
            idx = builder.select(builder.icmp_signed("<", idx, m_v), idx, last)
            x = builder.load(builder.gep(h_p, [idx], inbounds=True), align=8, typ=_I64)
            vx = builder.shuffle_vector(builder.insert_element(undef, x, _LANE0), undef, splat)
            vals.append(builder.add(builder.mul(va, vx), vb))
        while len(vals) > 1:  # a tree of minima: independent compares, not one chain
            pairs = zip(vals[0::2], vals[1::2], strict=False)  # an odd one out waits a round
            vals = [vmin(u, v) for u, v in pairs] + vals[len(vals) & ~1 :]
        builder.store(vals[0], vec_ptr(sig_p), align=8)
        return context.get_dummy_value()

    return types.none(sig, a, b, i, hashes, j, m), codegen
