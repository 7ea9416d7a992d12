"""sigconv.nn: a CNN with every forward and backward pass written out (DESIGN 1.2)."""

from . import functional
from . import functional as F

__all__ = ["F", "functional"]
