"""``borrow``: an array argument without its reference count, for kernels that slice it often.

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

from numba.core import types
from numba.extending import intrinsic


@intrinsic
def borrow(typingctx, arr):
    """``arr`` with a NULL meminfo and parent: same data, shape and strides, no counting.

    Any other value (an int, a tuple of ints) comes back as it is, so a kernel can borrow all
    its arguments alike.
    """
    if not isinstance(arr, types.Array):
        if isinstance(arr, (types.Number, types.Boolean, types.NoneType)) or (
            isinstance(arr, types.BaseTuple)
            and all(isinstance(t, (types.Number, types.Boolean)) for t in arr.types)
        ):
            return arr(arr), lambda context, builder, signature, args: args[0]
        return None  # a type Numba counts (list, dict, ...): not borrowed

    def codegen(context, builder, signature, args):
        src = context.make_array(arr)(context, builder, value=args[0])
        dst = context.make_array(arr)(context, builder)
        context.populate_array(
            dst,
            data=src.data,
            shape=src.shape,
            strides=src.strides,
            itemsize=src.itemsize,
            meminfo=None,
        )
        return dst._getvalue()

    return arr(arr), codegen


@intrinsic
def keep(typingctx, *arrays):
    """A use of ``arrays`` that does nothing: their owners stay alive up to this point."""
    sig = types.none(types.StarArgTuple(arrays))

    def codegen(context, builder, signature, args):
        return context.get_dummy_value()

    return sig, codegen
