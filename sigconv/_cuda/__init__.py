"""numba.cuda kernels and host launchers.

``correlate``, ``conv`` and ``pool`` hold the same operation families as ``sigconv._cpu``
(entered at the API level, with their own launch geometry); ``dense``, ``elementwise`` and
``igemm`` have no CPU twin (the CPU uses NumPy/BLAS there); ``_launch``, ``memory`` and ``ptx``
are the launch helpers, the caching allocator and the PTX/ptxas checks.

Private and imported lazily (only when ``backend`` resolves to ``"cuda"``), so that
``import sigconv`` never needs numba-cuda or a GPU.
"""
