"""numba.cuda kernels and host launchers, named like their ``sigconv._cpu`` twins.

Private and imported lazily (only when ``backend`` resolves to ``"cuda"``), so that
``import sigconv`` never needs numba-cuda or a GPU.
"""
