"""Transposing in vector registers: ``store_runs`` (a register block's tile to the output) and
``transpose_block`` (a square block of ``lanes`` rows).

A block of the output-channel kernel (``conv_outvec``) holds one vector of output channels per
position, but the output has each channel's positions next to each other. Copied element by
element, through scalar loads at a stride of a vector, the tile cost about 14% of LeNet conv2's
forward kernel. Here the tile's vectors are transposed with two-source shuffles (LLVM
``shufflevector``, one ``vpermt2ps`` or cheaper each: ``log2(lanes)`` rounds of ``lanes``) and
each channel's run is written with one masked vector store. Numba has no vector types, so the
whole copy is one intrinsic. (Its IR builder calls, ``gep(source_etype=)`` and
``load(typ=)``, need llvmlite 0.44, Numba 0.61.)

On the Sapphire Rapids vCPU (one thread, float32, the kernel's whole call): LeNet conv2 231-237
-> 212-218 us, VGG's 64-channel 3x3 layer 56 -> 51-52 ms, the 1-D audio layer 46 -> 32-33 ms,
the 3-D layer 14.5-15.0 -> 13.6-13.9 ms, the digits network's 32 -> 64 layer 1.20 -> 1.06-1.07
ms and its 1 -> 32 layer 97-103 -> 44 us.

The weight gradient with the output channels in the vectors (``conv_wgrad``) gathers the
output gradient channels-last into a tile, the opposite transposition: ``transpose_block``
there took W5c's weight gradient (two threads, old/new alternating) from 35.6-36.5 to 34.0 ms.
"""

from __future__ import annotations

from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

from ._simd import lanes_for


def _transposed(builder, rows, nl):
    """The ``nl`` vectors ``t[o][p] = rows[p][o]`` (``rows``: up to ``nl`` vectors of ``nl``
    lanes, the missing ones undefined). Round ``b`` swaps bit ``b`` of the row index with bit
    ``b`` of the lane index; after every round each element sits at its row and lane
    swapped."""
    vty = rows[0].type
    undef = ir.Constant(vty, ir.Undefined)
    cur = list(rows) + [None] * (nl - len(rows))
    i32v = ir.VectorType(ir.IntType(32), nl)
    h = 1
    while h < nl:
        lo = ir.Constant(i32v, [j if not j & h else nl + j - h for j in range(nl)])
        hi = ir.Constant(i32v, [j + h if not j & h else nl + j for j in range(nl)])
        nxt = list(cur)
        for i in range(nl):
            if i & h:
                continue
            a, b = cur[i], cur[i + h]
            if a is None and b is None:
                continue
            a = undef if a is None else a
            b = undef if b is None else b
            nxt[i] = builder.shuffle_vector(a, b, lo)
            nxt[i + h] = builder.shuffle_vector(a, b, hi)
        cur = nxt
        h *= 2
    return cur


def _c_floats(*arrays) -> bool:
    """Whether the typer's arguments are C-contiguous arrays of one float dtype."""
    return all(isinstance(a, types.Array) and a.layout == "C" for a in arrays) and all(
        isinstance(a.dtype, types.Float) and a.dtype == arrays[0].dtype for a in arrays
    )


def _vector_pointer(builder, base, idx, flt, vty):
    """A pointer to the vector ``vty`` at element ``idx`` of the ``flt`` array at ``base``."""
    p = builder.gep(base, [idx], inbounds=True, source_etype=flt)
    return builder.bitcast(p, vty.as_pointer())


@intrinsic
def store_runs(typingctx, tile, t0, pstride, y, starts, nrun, step, bias, o0, relu):
    """``y[starts[r] + o * step + k] = tile[t0 + (r * nrun + k) * pstride * lanes + o] +
    bias[o0 + o]``, then ``max(., 0)`` where ``relu`` (NaN kept and +0.0 for every value <= 0,
    as ``activation.relu``), for every ``o < lanes``, ``k < nrun`` and run ``r`` of the tuple
    ``starts``: a tile of vectors of ``lanes`` output channels (one per position, ``pstride``
    vectors apart) stored as runs of ``nrun`` consecutive outputs per channel, ``step`` apart.
    ``pstride`` and ``nrun`` must be literals; the arrays contiguous, of one float dtype,
    ``bias`` at least ``o0 + lanes`` long."""
    if not (
        _c_floats(tile, y, bias)
        and isinstance(starts, types.UniTuple)
        and isinstance(pstride, types.IntegerLiteral)
        and isinstance(nrun, types.IntegerLiteral)
        and isinstance(relu, types.Boolean)
    ):
        return None
    bits = tile.dtype.bitwidth
    nl = lanes_for(bits // 8)  # the kernels' lanes(), so their tiles match
    run = nrun.literal_value
    vstride = pstride.literal_value * nl
    nstart = starts.count
    sig = types.none(tile, t0, pstride, y, starts, nrun, step, bias, o0, relu)

    def codegen(context, builder, sig, args):
        tty, t0ty, _, yty, sty, _, stepty, bty, o0ty, reluty = sig.args
        flt = context.get_value_type(tty.dtype)
        vty = ir.VectorType(flt, nl)
        intp = context.get_value_type(types.intp)
        align = flt.get_abi_alignment(context.target_data)
        tdata = context.make_array(tty)(context, builder, args[0]).data
        ydata = context.make_array(yty)(context, builder, args[3]).data
        bdata = context.make_array(bty)(context, builder, args[7]).data
        t0 = context.cast(builder, args[1], t0ty, types.intp)
        step = context.cast(builder, args[6], stepty, types.intp)
        o0 = context.cast(builder, args[8], o0ty, types.intp)
        relu = context.cast(builder, args[9], reluty, types.boolean)
        zero = ir.Constant(vty, [ir.Constant(flt, 0.0)] * nl)
        firsts = [
            context.cast(builder, builder.extract_value(args[4], r), sty.dtype, types.intp)
            for r in range(nstart)
        ]

        def vptr(base, idx):
            return _vector_pointer(builder, base, idx, flt, vty)

        def const(v):
            return ir.Constant(intp, v)

        bvec = builder.load(vptr(bdata, o0), align=align, typ=vty)
        mty = ir.VectorType(ir.IntType(1), nl)
        masked = cgutils.get_or_insert_function(
            builder.module,
            ir.FunctionType(ir.VoidType(), [vty, vty.as_pointer(), ir.IntType(32), mty]),
            f"llvm.masked.store.v{nl}f{bits}.p0",
        )
        for r in range(nstart):
            for c0 in range(0, run, nl):  # positions a vector at a time
                m = min(nl, run - c0)
                rows = []
                for p in range(m):
                    idx = builder.add(t0, const((r * run + c0 + p) * vstride))
                    vec = builder.load(vptr(tdata, idx), align=align, typ=vty)
                    vec = builder.fadd(vec, bvec)
                    # x <= 0 (ordered: NaN stays) -> +0.0, as _cpu.activation.relu
                    cut = builder.select(builder.fcmp_ordered("<=", vec, zero), zero, vec)
                    rows.append(builder.select(relu, cut, vec))
                cols = _transposed(builder, rows, nl)
                mask = ir.Constant(mty, [int(j < m) for j in range(nl)])
                for o in range(nl):
                    off = builder.add(firsts[r], builder.mul(step, const(o)))
                    ptr = vptr(ydata, builder.add(off, const(c0)))
                    if m == nl:
                        builder.store(cols[o], ptr, align=align)
                    else:
                        operands = [cols[o], ptr, ir.Constant(ir.IntType(32), align), mask]
                        builder.call(masked, operands)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def transpose_block(typingctx, src, s0, sstride, dst, d0, dstride):
    """``dst[d0 + k * dstride + i] = src[s0 + i * sstride + k]`` for ``i, k < lanes``: a
    square block of ``lanes`` rows transposed in registers (``lanes`` vector loads, the
    shuffles of ``store_runs``, ``lanes`` vector stores). ``src`` and ``dst`` contiguous, of
    one float dtype."""
    if not _c_floats(src, dst):
        return None
    nl = lanes_for(src.dtype.bitwidth // 8)
    sig = types.none(src, s0, sstride, dst, d0, dstride)

    def codegen(context, builder, sig, args):
        sty, s0ty, ssty, dty, d0ty, dsty = sig.args
        flt = context.get_value_type(sty.dtype)
        vty = ir.VectorType(flt, nl)
        align = flt.get_abi_alignment(context.target_data)
        sdata = context.make_array(sty)(context, builder, args[0]).data
        ddata = context.make_array(dty)(context, builder, args[3]).data
        s0, sstride, d0, dstride = (
            context.cast(builder, args[i], sig.args[i], types.intp) for i in (1, 2, 4, 5)
        )

        def vptr(base, idx):
            return _vector_pointer(builder, base, idx, flt, vty)

        intp = context.get_value_type(types.intp)
        rows = []
        for i in range(nl):
            off = builder.add(s0, builder.mul(sstride, ir.Constant(intp, i)))
            rows.append(builder.load(vptr(sdata, off), align=align, typ=vty))
        for k, col in enumerate(_transposed(builder, rows, nl)):
            off = builder.add(d0, builder.mul(dstride, ir.Constant(intp, k)))
            builder.store(col, vptr(ddata, off), align=align)
        return context.get_dummy_value()

    return sig, codegen
