"""Tunables in one place: thresholds of the cost models and CUDA launch geometry.

Values are measured on the project's reference machine (2 cores, AVX2); change them here only,
never inline in a kernel or launcher.
"""

# --- CUDA launch geometry -------------------------------------------------------------------
# Threads per block along (x, y) for 2-D tiled kernels and along x for 1-D kernels. The test
# suite shrinks these (see tests/conftest.py) so that tiny inputs span several blocks in the
# simulator.
CUDA_BLOCK_1D = 256
CUDA_BLOCK_2D = (32, 8)
CUDA_BLOCK_3D = (32, 4, 2)
# The tiled correlation of the signal API (sigconv/_cuda/correlation.py) gives each thread several
# outputs, so a block loads its input halo once for more outputs: CUDA_CORR_ROWS rows (every
# by-th) of a 2-D image, CUDA_CORR_PLANES planes of a 3-D volume, whose blocks are
# CUDA_CORR_BLOCK_3D threads. A 2048^2 3x3 filter reads 1.13 input values per output instead of
# 1.33, a 256^3 3^3 filter 1.66 instead of 3.2 (32x4x2 blocks, one output per thread). Halved
# until the tile fits CUDA_SHARED_BYTES.
CUDA_CORR_ROWS = 4
CUDA_CORR_PLANES = 8
CUDA_CORR_BLOCK_3D = (32, 8, 1)

# Device arrays sigconv allocates come from its caching pool (sigconv/_cuda/memory.py) instead
# of a cuMemAlloc/cuMemFree pair per array; False restores Numba's allocator.
CUDA_MEMORY_POOL = True

# Kernels launch through sigconv/_cuda/launch.py: after the first call of each argument
# signature, sigconv converts the arguments and calls cuda.core's launch itself instead of
# Numba's dispatcher (the tiled filter kernel on an H200: 73 -> 36 us of host time per launch;
# docs/performance.md, "GPU"). False: every launch goes through Numba.
CUDA_FAST_LAUNCH = True

# --- signal API (sigconv.signal) -------------------------------------------------------------
# backend="auto" moves a host correlation to the GPU only from this many flops
# (2 * outputs * kernel taps) up: below it the host<->device copies cost more than they save.
CUDA_MIN_WORK = 2e8
# Outputs of one row that one CPU task accumulates (a long 1-D signal is split into blocks of
# this size for parallelism; the block and its input span stay in L1/L2 across all taps).
CPU_ROW_BLOCK = 4096
# A strided 3-D correlation over at most this many input bytes splits its rows' phases in one
# pass over the input (sigconv/_cpu/correlation.py, _split_wins). Measured with 3^3 and 5^3
# kernels: one pass won up to 8 x 64^3 float32 (8 MiB), lost at 256^3 (64 MiB).
CPU_SPLIT_IN_CACHE_BYTES = 16 * 2**20
# A stride 2 along the last axis (dilation 1) takes the stride-2 kernels (loads straight from
# the rows, sigconv/_cpu/correlate_stride2.py) for kernels of at most 3 taps a row or at most
# this many taps in all; longer kernels split the phases first, which costs fewer shuffles a
# tap. Measured old/new, one thread: 3x3 over 1024^2 1.9, 3^3 over 129^3 2.1, 4x4 1.07,
# 1-D 18 taps 1.19; 5x5 0.87, 7x7 0.89, 1-D 31 taps 0.88.
CPU_STRIDE2_MAX_TAPS = 18
# Bytes of freed results of in-memory calls kept for the next results (sigconv/_scratch.py,
# new_result; 0: none), and the least size of a result that goes through that pool. Next to
# PyTorch, W2's 16 MiB result faulted 488 pages in a call (+27%); W5c's results 620-710 a
# step; alone, W3's 64 MiB result (over glibc's 32 MiB mmap limit) 544 a call (+25-220%).
# Smaller ones come from glibc's heap, which kept them: LeNet conv2's 0.3-0.4 MB results
# faulted nothing either way, and the pool's 1.3-1.6 us a call (lock, scan, view) made its
# forward pass 1-2% slower (alternating processes).
# sigconv.empty_cpu_cache() frees what the pool keeps.
RESULT_POOL_BYTES = 128 * 2**20
RESULT_POOL_MIN_BYTES = 2**20
# Bytes of Dask block results a distributed worker keeps for reuse once they are released (at
# most a tenth of its memory limit; sigconv/_scratch.py, result): W7's blocks are 8 MiB, 32 a
# worker on average and up to 36 (at 256 MiB two blocks a run were left out).
DASK_RESULT_POOL_BYTES = 320 * 2**20
# Least work (multiply-adds) worth a chunk of its own on another thread (sigconv/_cpu/_threads.py):
# handing a chunk to a pool thread costs about 20 us, 65536 float32 multiply-adds about 5 us.
CPU_MIN_CHUNK_WORK = 1 << 18
# Most chunks a job is split into per thread (sigconv/_cpu/_threads.py, run_chunks): 2 against
# 4, W4 and LeNet conv2's forward 3% faster (each claim goes through Python and the GIL), no
# more slowed next to PyTorch's spinning threads (docs/performance.md, "Threads").
CPU_CHUNKS_PER_THREAD = 2
# Microseconds a pool thread keeps watching for the next job after one (and the caller for its
# helpers' exits) before it sleeps (sigconv/_cpu/_threads.py): waking a sleeping thread took
# 35-130 us on the 2-core virtual machine, while the calls of a training step follow each other
# within tens of microseconds. 0: sleep at once.
CPU_SPIN_US = 2000
# A watching thread sleeps at once when one of its yields lasted longer than this (another
# thread took the core: PyTorch's spinning OpenMP worker, another process), so that it does
# not slow that thread and is woken ahead of it for the next job.
CPU_SPIN_BUSY_US = 50
# Microseconds a pool thread that has seen a new job keeps spinning before it asks for the GIL
# (sigconv/_cpu/_spin.py, exit_and_watch): the caller holds the GIL for 1-1.5 us after it
# publishes the job, until its own first chunk starts, and a thread that asks for a held GIL
# sleeps and is woken 20-45 us later. LeNet conv2's forward pass on 2 threads: the helper's
# first chunk began 25 us after the caller's (p90 46 us); with 1.5 us, 3.4 us (p90 4.6); with
# 0.8 us, half the jobs still lost 44 us. 4 us leaves room for a slower interpreter.
CPU_GIL_GRACE_US = 4

# --- sigconv.nn convolution (sigconv/_cpu/convolution.py) ------------------------------------
# Bytes of the im2col column matrix per chunk of images (the GEMM's right operand); bounds the
# temporary memory. Each chunk alternates a Numba parallel region with an OpenBLAS call, and on
# a busy 2-core machine every switch between the two thread pools can cost a scheduler time
# slice: W5c forward took 3.3 s with 8 MiB chunks (32 of them), 0.32 s with 128 MiB (2).
NN_CONV_COL_BYTES = 128 * 1024 * 1024
# Images whose column matrix holds at most this many bytes go through the GEMM passes one image
# at a time on each of sigconv's threads (im2col into the thread's own buffer, a single-threaded
# GEMM straight into the image's output, col2im back): no pass waits for another thread, and
# the column matrix is written and read while it is still in the core's caches. W5c (7 MiB of
# columns an image) forward: 98 -> 60 ms on 2 threads. Larger images take the chunked path.
NN_CONV_IMAGE_COL_BYTES = 32 * 1024 * 1024
# ... and whose GEMM per image does at least this many multiply-adds: smaller ones cost more in
# calls than they gain (CNNClassifier's audio network, 0.07-0.6 M a layer and image: a fit took
# 4.8 s image by image against 3.5 s chunked; W5c's is 14.7 M, W5f's 41 M).
NN_CONV_IMAGE_MIN_WORK = 1 << 22
# The direct kernel replaces im2col + GEMM (strides 1, wide grid wasting <= 50%) when the
# channels summed over are at most these: the forward pass sums C_in / groups, the input
# gradient C_out / groups (its GEMM form writes a column matrix C_in/groups * taps times the
# input and scatters it back, so the direct kernel wins up to more channels). Measured on W5:
# forward direct 2.4x faster at 1 channel, 1.6x at 6, 1.3x at 8, 0.86x at 16 (W5d);
# input gradient 1.6x at 6 channels, 1.3x at 16 (W5e), 0.9x at 32 (W5d).
NN_CONV_DIRECT_MAX_CHANNELS = 8
NN_CONV_DIRECT_MAX_CHANNELS_GRAD = 16
# The same limits where Numba compiles for AVX-512 (sigconv/_cpu/_simd.py): since the tap loops
# run on 512-bit registers the direct kernel wins up to more channels. Measured on a Sapphire
# Rapids vCPU (2 threads, GEMM time / direct time): forward W5d (16 channels) 1.7x, W5c (64)
# 1.4-1.5x, 1-D 64 -> 64 channels, 5 taps 1.33x, 128 -> 128 3x3 on 28^2 0.88x, 256 on 14^2
# about 1.0; input gradient W5d (32) 1.15x, W5c (64) 1.2x. (Compiled for Haswell there, W5d's
# forward was a draw, so CPUs without AVX-512 keep the limits above.)
# Only for images of at least ``_AVX512_MIN_PIXELS`` output pixels: on CNNClassifier's audio
# network (16 -> 32 channels over 125 samples, 32 -> 64 over 31, batch 32) the direct kernel's
# per-task cost lost to the chunked GEMM (5 epochs 2.2-2.6 s against 1.3-1.8 s).
NN_CONV_DIRECT_MAX_CHANNELS_AVX512 = 64
NN_CONV_DIRECT_MAX_CHANNELS_GRAD_AVX512 = 64
NN_CONV_DIRECT_AVX512_MIN_PIXELS = 1024
# The direct weight gradient (dot products over the batch and the wide grid) against im2col +
# GEMM (2 threads, batch 64 unless noted; direct / GEMM time): with few input channels per group
# the direct kernel wins at every size (6 -> 16 5x5: 0.6 at 10x10 outputs, 0.37 at 28x28); with
# more, its per-task cost needs enough output pixels per image to pay off: 16 -> 120 5x5 was 4.6
# at 1x1 (LeNet's conv3: 2.6 of a 9 ms training step), 2.0 at 8x8, 1.5 at 10x10, 0.71 at 28x28;
# 32 -> 64 3x3 2.5-4 up to 10x10, 1.1 at 28x28; 16 -> 32 3x3 0.82 at 16x16; 64 -> 64 3x3 (W5c,
# batch 8) 0.67 at 56x56; 128 -> 128 3x3 (batch 8) 1.7 at 28x28. (An earlier busy-machine run
# had W5c's GEMM at 1.5 GFLOP/s, 30x slower than the direct kernel.) Since the GEMM passes run
# image by image on each thread (``NN_CONV_IMAGE_COL_BYTES``), isolated, 2 threads: W5c (64 ->
# 64 3x3, 56x56, batch 32) direct 84 ms, GEMM 61 ms; W5d (16 -> 32, 9 taps) direct 50 ms,
# GEMM 69 ms. So: direct up to ``_FEW_CHANNELS`` input channels per group, else from
# ``_MIN_PIXELS`` output pixels per image and up to ``_MAX_CHANNELS`` input channels per group.
NN_CONV_DIRECT_WGRAD_FEW_CHANNELS = 8
NN_CONV_DIRECT_WGRAD_MIN_PIXELS = 256
NN_CONV_DIRECT_MAX_CHANNELS_WGRAD = 32
# The direct kernel vectorised along the output channels (sigconv/_cpu/conv_outvec.py), for
# the forward pass and (with a full vector of input channels, convolution.py) the input
# gradient. Measured on the Sapphire Rapids vCPU, 2 threads, float32, in its first version
# (blocks of 20 wide positions, steps of three taps), against the kernels before it (wide
# grid, batch-last or im2col + GEMM): LeNet conv2 (6 -> 16, 5x5 on 14^2) 1.5-2.0x, with 8 or
# 12 output channels 1.7x; W5c (64 -> 64, 3x3 on 56^2) 1.4x; 128 -> 128 on 28^2 1.17x but 256
# on 14^2 0.58x (its weights no longer stay in L2); 1-D 16 -> 32 channels, 9 taps 1.2-1.9x;
# 3-D 8 -> 16, 3^3 1.1-1.4x; 3 -> 16 channels, 3x3 (9 steps) 1.05x; one input channel, 5x5
# (10 steps, LeNet conv1 with 6 or 16 outputs) 0.55 and 0.95x. (A step is three or two taps of
# an input channel's row.) Fewer steps where the other kernel would be batch-last (small
# images): the digits network's 1 -> 32, 3x3 on 8x8 (3 steps) 1.6x (conv_outvec.suits).
NN_CONV_OUTVEC_MIN_OUT = 8
NN_CONV_OUTVEC_MAX_CHANNELS = 128
NN_CONV_OUTVEC_MIN_STEPS = 12
# conv_fewout (six output channels by four vectors in registers): for up to six output
# channels (one register block's); batch-last with at most a fifth of the rounded-up batch
# empty (LeNet conv2's input gradient, 1-6 channels: 1.2-1.6x the batch-last kernel); on the
# wide grid for five or six (LeNet conv1's forward, 6: 1.07x the tap loops; 1-4: 0.8-0.97x)
NN_CONV_FEWOUT_MAX_OUT = 6
NN_CONV_FEWOUT_MAX_BATCH_WASTE = 0.2
NN_CONV_FEWOUT_MIN_OUT_WIDE = 5
# Wide output positions per task of the direct weight-gradient kernel (accumulators in L1).
NN_CONV_DIRECT_BLOCK = 512
# Output positions per task of the direct correlation kernels (four accumulator rows of this
# many values stay in L1; fewer, longer tap loops): single-thread, 2048 against 512 made W5e's
# forward 1.2x faster (28.5 vs 35 ms) and LeNet's conv1/conv2 passes 1.05-1.2x.
NN_CONV_CORR_BLOCK = 2048
# The batch-last direct layout (``_cpu.conv_direct.batch_last``) is used from this many images and
# when the wide grid would compute more than this factor of extra positions.
NN_CONV_BATCH_LAST_MIN_IMAGES = 8
NN_CONV_BATCH_LAST_MIN_WASTE = 1.2
# The direct weight gradient splits the batch into this many partial sums (parallel tasks when
# channels are few, e.g. LeNet's first layer has only 3 pairs of output channels).
NN_CONV_WGRAD_SPLIT = 8
# conv_wgrad.direct_grad_weight_outvec (output channels in the vectors) for outputs of at most
# this many pixels a channel (8x8 to 16x16 at 32-512 channels: 1.1-2.3x im2col + GEMM on two
# threads), and on larger images for at least MIN_TAPS taps in all (0.8-0.9x with 25 or 27,
# whose blocks run partly empty) from at most MAX_CHANNELS input channels (blocks of 64 float32
# output channels; two threads, against the kernel each shape took before: 64 channels on
# 56x56 1.5-2.0x, 128 on 28x28 1.0-1.3x, 256 on 28x28 0.85-1.0x) or MAX_CHANNELS_2 (blocks of
# 32 or 16; against im2col + GEMM it lost from 64 channels up, against the wide-grid kernel below 32
# it won 1.3-2.0x: W5d 1.9x; blocks of 16 channels, against each shape's kernel before: 32 -> 16
# channels 3x3 on 56x56 1.8x, 16 -> 16 1.5x, 4 -> 16 1.04x, 32 -> 16 k9 1-D 1.3x; small images
# 1.15-2.4x, except float64 1 -> 8 channels 3x3 on 8x8, 9 taps in 24 slots: 0.75x).
NN_CONV_WGRAD_OUTVEC_MAX_PIXELS = 256
NN_CONV_WGRAD_OUTVEC_MIN_TAPS = 36
NN_CONV_WGRAD_OUTVEC_MAX_CHANNELS = 128
NN_CONV_WGRAD_OUTVEC_MAX_CHANNELS_2 = 32
# Flop count from which backend="auto" sends a host convolution to a GPU when one is present.
NN_CONV_GPU_MIN_WORK = 2e8
# Most blocks a 1-D grid-stride launch uses; the loop covers larger arrays.
CUDA_MAX_BLOCKS_1D = 65535 * 8
# Largest grid extent along y and z (hardware limit); batch loops stride past it.
CUDA_MAX_GRID_YZ = 65535
# Dynamic shared memory a tiled kernel may request per block (bytes). 48 KiB needs no opt-in on
# any GPU from sm_70 on; tiles (input halo + kernel window) larger than this use the untiled
# kernel that reads global memory through the cache.
CUDA_SHARED_BYTES = 48 * 1024

#: Most taps per filter for which the CUDA weight-gradient kernel of few channels keeps one
#: register accumulator per tap (``_cuda.conv_kernels._grad_weight_taps``); larger kernels take
#: one block per weight element.
CUDA_WGRAD_TAPS_MAX = 27
# Tile edge of the CUDA matrix multiply (dense layers): blocks of T x T threads, 2 T^2 shared.
CUDA_TILE_MM = 16
# Implicit-GEMM convolution kernels (sigconv/_cuda/igemm.py). A block computes a BM x BN tile of
# the output matrix (BM channels x BN positions, or BN weight columns for the weight gradient),
# staging BK-deep slices of both operands in shared memory; each of its (BM/4)*(BN/4) threads
# accumulates a 4 x 4 register tile. 64 x 64 x 8: 256 threads, 4 KiB shared memory (float32),
# several blocks per SM. Constraints (checked by igemm.tiles()): BM and BN multiples of 16 (the
# threads load whole tile rows and columns), BK dividing the thread count. Tests shrink them.
# BM shrinks to the channels computed per group rounded up to 16 when fewer (igemm.tiles).
CUDA_IGEMM_BM = 64
CUDA_IGEMM_BN = 64
CUDA_IGEMM_BK = 8
# The implicit GEMM replaces the direct kernels when the channels per group summed over (forward:
# C_in/groups; input gradient: C_out/groups; weight gradient: C_in/groups) reach MIN_K and the
# channels per group computed (forward and weight gradient: C_out/groups; input gradient:
# C_in/groups) reach MIN_M. Below, most of a 64-row tile and of each 8-deep slice would be zero
# padding (LeNet's first layer has 1-3 input channels; depthwise convs have 1 per group). Not yet
# measured on a GPU: set both to 0 to force the GEMM kernels, to a huge value to force the direct.
CUDA_IGEMM_MIN_K_CHANNELS = 8
CUDA_IGEMM_MIN_M_CHANNELS = 8
# Weight gradient: the reduction over N * positions is split over grid z until the grid has
# about this many blocks (4 per SM of a 132-SM H100), each split at least MIN_K long; the
# (splits, C_out, C_in/groups * taps) partial sums are then added in a fixed order.
CUDA_IGEMM_WGRAD_BLOCKS = 528
CUDA_IGEMM_WGRAD_MIN_K = 512

# --- method="auto" cost model of the signal API (sigconv._fft) ------------------------------
# Measured by benchmarks/calibrate_auto.py on the reference machine (single-thread CPU seconds:
# only the ratio of the two estimates matters); rerun it and paste its output here after
# changing a kernel. Seconds per unit:
# direct: outputs * (per_output + taps * per_tap) + per_call, keyed by kernel ndim and dtype.
DIRECT_COST = {
    1: {"float32": (8.03e-10, 4.86e-11, 0.0), "float64": (8.84e-10, 9.1e-11, 0.0)},
    2: {"float32": (7.31e-10, 8.46e-11, 0.0), "float64": (1.03e-09, 9.33e-11, 0.0)},
    3: {"float32": (0.0, 1.4e-10, 0.0), "float64": (1.43e-09, 2.39e-10, 0.0)},
}
# FFT: points * (per_point_log * L + per_point + per_point_big * max(0, L - 16)) + per_group,
# L = log2(transform size), keyed by kernel ndim and dtype.
FFT_COST = {
    1: {
        "float32": (3.51e-10, 1.27e-09, 8.36e-09, 0.000125),
        "float64": (3.7e-10, 5.42e-09, 1.18e-08, 0.0),
    },
    2: {"float32": (5.56e-11, 7.81e-09, 0.0, 0.0), "float64": (7.07e-11, 1.19e-08, 0.0, 0.0)},
    3: {"float32": (4.09e-11, 9e-09, 0.0, 0.0), "float64": (0.0, 1.65e-08, 0.0, 0.0)},
}
# The FFT path's temporaries stay under FFT_TEMP_FACTOR x the larger of input and output
# (frames are processed in groups to get there), but never need to go below FFT_TEMP_MIN_BYTES.
FFT_TEMP_FACTOR = 0.5
FFT_TEMP_MIN_BYTES = 32 * 2**20
