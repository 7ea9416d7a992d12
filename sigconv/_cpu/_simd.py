"""The vector registers that register blocks are sized for: ``wide_vectors`` (a kernel's
vector width) and ``block_len`` / ``lanes`` (a block's length for a dtype, as constants).

A register block (``conv_direct._block4``, ``conv_wgrad._direct_grad_weight_batch_last``) keeps
its accumulators in vector registers across a reduction loop. Sized for one register file it
spills on another, so its length follows the CPU Numba compiles for:

* LLVM picks a vector width per function. On Intel's AVX-512 CPUs (Skylake-SP to Sapphire
  Rapids) its default is 256 bits (the "prefer-256-bit" tuning, against the first of them
  lowering their clock for 512-bit code); on AMD's Zen 4 and 5 it is 512. A float32 block sized for
  16 zmm became 32 ymm and spilled (LeNet conv2's forward kernel: 130 spill stores). A kernel
  that calls ``wide_vectors()`` gets the attribute ``"prefer-vector-width"="512"``, so both
  vectorise with zmm; the attribute changes nothing on CPUs without AVX-512 or off x86.
  Measured on a Sapphire Rapids vCPU, LeNet conv2's forward kernel on one thread: 0.53-0.60 ms
  with ymm, 0.45-0.47 with zmm. The wide grid's tap loops (``_taps4``, LeNet conv1) gain
  1.05-1.10x in float32 and 1.11-1.24x in float64.
* With AVX-512, ``block_len`` is half the register file (16 zmm) over four output channels:
  64 float32 or 32 float64 outputs; ``lanes`` is one zmm, 16 or 8 elements. A float64 block of
  64 had spilled even with zmm (32 accumulators). On the same vCPU: LeNet conv2's float64
  forward 1.2-2.1x and weight gradient 1.4-2.1x faster, float32 1.14-1.32x (forward, input
  gradient) and 1.7-2.2x (weight gradient).
* Without AVX-512 both stay at the sizes the kernels had (64 outputs, 16 lanes, any dtype).
  Compiled for Haswell (AVX2, 16 ymm) on the same machine, spill-free blocks (16 float32 or 8
  float64 outputs) were slower, 0.5-0.7x on five of six LeNet conv2 passes: LLVM's SLP
  vectoriser left part of such a block scalar, and each tap's slicing costs as much as the
  spills of a larger block.

Both are read from the target Numba compiles for (``NUMBA_CPU_FEATURES`` or the host's
features), so a cached kernel, which Numba keys by CPU name and features, always matches them.
"""

from __future__ import annotations

import functools

from numba.core import types
from numba.extending import intrinsic

#: Elements per channel of the longest block: ``stack_array`` sizes and the
#: slack after a buffer that a row's last block reads past the end of.
MAX_BLOCK = 64


@functools.cache
def avx512() -> bool:
    """Whether the CPU Numba compiles for has AVX-512 (32 vector registers of 64 bytes)."""
    import llvmlite.binding as ll
    from numba.core import config
    from numba.core.codegen import get_host_cpu_features

    feats = config.CPU_FEATURES if config.CPU_FEATURES is not None else get_host_cpu_features()
    arch = ll.get_process_triple().split("-")[0]
    return arch in ("x86_64", "amd64") and "+avx512f" in str(feats).split(",")


def lanes_for(itemsize: int) -> int:
    """Elements per dot product in the weight gradient's register block: one zmm with AVX-512,
    else 16 (see the module docstring)."""
    return 64 // itemsize if avx512() else 16


def block_len_for(itemsize: int) -> int:
    """Outputs per channel of a four-channel register block: 16 zmm of accumulators (half the
    register file) with AVX-512, else ``MAX_BLOCK`` (see the module docstring)."""
    return 16 * 64 // 4 // itemsize if avx512() else MAX_BLOCK


def _typed_constant(a, value_of):
    if not (isinstance(a, types.Array) and isinstance(a.dtype, types.Float)):
        return None
    n = value_of(a.dtype.bitwidth // 8)

    def codegen(context, builder, signature, args):
        return context.get_constant(types.intp, n)

    return types.intp(a), codegen


@intrinsic
def block_len(typingctx, a):
    """``block_len_for`` of a float array's itemsize, as a constant (loops of this many
    iterations unroll, so their indices into a ``stack_array`` are constants)."""
    return _typed_constant(a, block_len_for)


@intrinsic
def lanes(typingctx, a):
    """``lanes_for`` of a float array's itemsize, as a constant."""
    return _typed_constant(a, lanes_for)


@intrinsic
def wide_vectors(typingctx):
    """Give the calling function the attribute ``"prefer-vector-width"="512"``: LLVM vectorises
    it with zmm registers wherever the CPU has AVX-512 (see the module docstring)."""

    def codegen(context, builder, signature, args):
        # llvmlite's FunctionAttributes accepts only enum attributes; this string attribute
        # is printed as given into the function's definition
        set.add(builder.function.attributes, '"prefer-vector-width"="512"')
        return context.get_dummy_value()

    return types.none(), codegen
