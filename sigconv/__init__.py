"""sigconv: fast, complete and transparent convolution.

Public names only; see ``sigconv.signal``, ``sigconv.nn`` and ``sigconv.estimators``.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
