"""Arrays without Numba's reference counting: ``borrow`` (an argument, for kernels that slice it
often) and ``stack_array`` (a register block of accumulators).

Numba counts references to every array it manages: each view (``row = out[b, i]``,
``a = x[lo:hi]``) increments and decrements the count of the array it views, two atomic
operations through a call into Numba's runtime. A kernel called from Python receives arrays
with a count (their "meminfo"), and the correlation's row kernels take tens of views per output
row: on 256^3 volumes those operations took half of the kernel's time. Numba's own parallel
gufuncs receive their arrays without a meminfo, which makes every count operation a no-op; a
kernel that borrows its arguments this way gets the same.

Safe only for arrays kept alive for as long as the borrowed copy is used (the arguments of a
kernel called from Python are; a kernel's own scratch is kept by :func:`keep` after its last
use, since Numba frees an array right after the last use of its variable) and that are not
returned or stored.
"""

from llvmlite import ir
from numba.core import cgutils, types
from numba.core.errors import RequireLiteralValue
from numba.extending import intrinsic


def _borrowable(ty):
    if isinstance(ty, (types.Array, types.Number, types.Boolean, types.NoneType)):
        return True
    return isinstance(ty, types.BaseTuple) and all(
        isinstance(t, (types.Number, types.Boolean)) for t in ty.types
    )


def _borrow_one(context, builder, ty, value):
    if not isinstance(ty, types.Array):
        return value
    src = context.make_array(ty)(context, builder, value=value)
    dst = context.make_array(ty)(context, builder)
    context.populate_array(
        dst,
        data=src.data,
        shape=src.shape,
        strides=src.strides,
        itemsize=src.itemsize,
        meminfo=None,
    )
    return dst._getvalue()


@intrinsic
def borrow(typingctx, *values):
    """Each array with a NULL meminfo and parent (same data, shape and strides, no counting);
    ints, floats and tuples of them as they are, so a kernel borrows all its arguments alike:
    ``x, w, out, geo = borrow(x, w, out, geo)`` (one value in, one value out).
    """
    if not values or not all(_borrowable(t) for t in values):
        return None  # a type Numba counts (list, dict, ...): not borrowed
    ret = values[0] if len(values) == 1 else types.BaseTuple.from_types(values)

    def codegen(context, builder, signature, args):
        items = cgutils.unpack_tuple(builder, args[0], len(values))
        outs = [_borrow_one(context, builder, t, v) for t, v in zip(values, items)]
        return outs[0] if len(values) == 1 else context.make_tuple(builder, ret, outs)

    return ret(types.StarArgTuple(values)), codegen


@intrinsic
def keep(typingctx, *arrays):
    """A use of ``arrays`` that does nothing: their owners stay alive up to this point."""
    sig = types.none(types.StarArgTuple(arrays))

    def codegen(context, builder, signature, args):
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def stack_array(typingctx, size, dtype):
    """A zeroed 1-D array of ``size`` (a literal int) elements of ``dtype`` on the stack.

    Not counted and never freed: it lives as long as the function that calls this. Its use is
    register blocking: when every index into it is a constant after LLVM unrolls the loops
    around (fixed trip counts), LLVM's SROA turns its elements into SSA values, so a block of
    accumulators stays in vector registers across a reduction loop instead of being loaded and
    stored on every pass (a heap array never is: LLVM cannot prove that other arrays do not
    alias it).
    """
    if not isinstance(size, types.IntegerLiteral):
        raise RequireLiteralValue("stack_array needs a literal size")
    n = size.literal_value
    dt = dtype.dtype
    arrty = types.Array(dt, 1, "C")

    def codegen(context, builder, signature, args):
        lty = context.get_value_type(dt)
        aty = ir.ArrayType(lty, n)
        ptr = cgutils.alloca_once(builder, aty)  # in the entry block: SROA needs it there
        builder.store(ir.Constant(aty, None), ptr)
        ary = context.make_array(arrty)(context, builder)
        itemsize = context.get_constant(types.intp, context.get_abi_sizeof(lty))
        context.populate_array(
            ary,
            data=builder.bitcast(ptr, lty.as_pointer()),
            shape=cgutils.pack_array(builder, [context.get_constant(types.intp, n)]),
            strides=cgutils.pack_array(builder, [itemsize]),
            itemsize=itemsize,
            meminfo=None,
        )
        return ary._getvalue()

    return arrty(size, dtype), codegen
