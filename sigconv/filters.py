"""Classic image kernels and applying them to grey and colour images.

The kernels are the ones every image-processing lecture shows: identity, sharpen, edge detection,
box blur, Gaussian blur, Laplacian and Sobel. :func:`apply` filters an image with one of them (or
any 2-D kernel) through :func:`sigconv.correlate`; a colour image is filtered in one call, its
channel axis moved to the front as a batch axis. :func:`sepia` is the usual colour matrix.

Every kernel is applied as a correlation (no flip), like ``scipy.ndimage.correlate``; the
symmetric kernels give the same result either way, and the Sobel kernels are written so that
``sobel_x`` equals ``scipy.ndimage.sobel(image, axis=1)``.
"""

from __future__ import annotations

import numbers

import numpy as np

from . import _dask, _modes, _validate

__all__ = [
    "FILTERS",
    "KERNELS",
    "apply",
    "box_blur",
    "edge_detection",
    "filter_image",
    "gaussian_blur",
    "get_kernel",
    "identity",
    "laplacian",
    "separable_factors",
    "sepia",
    "sharpen",
    "sobel",
    "sobel_x",
    "sobel_y",
]

BOUNDARIES = _modes.BOUNDARIES


def _odd_size(size, name: str = "size") -> int:
    if isinstance(size, bool) or not isinstance(size, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be an odd positive int; got {size!r}")
    if size < 1 or size % 2 == 0:
        raise ValueError(f"{name} must be an odd positive int; got {size!r}")
    return int(size)


def identity(size: int = 3) -> np.ndarray:
    """A ``size x size`` kernel with a single 1 at its centre: leaves the image unchanged.

    Examples
    --------
    >>> from sigconv import filters
    >>> filters.identity()
    array([[0., 0., 0.],
           [0., 1., 0.],
           [0., 0., 0.]])
    """
    size = _odd_size(size)
    k = np.zeros((size, size))
    k[size // 2, size // 2] = 1.0
    return k


def sharpen() -> np.ndarray:
    """The 3x3 sharpening kernel: the image plus its negative Laplacian.

    Examples
    --------
    >>> from sigconv import filters
    >>> filters.sharpen()
    array([[ 0., -1.,  0.],
           [-1.,  5., -1.],
           [ 0., -1.,  0.]])
    """
    return np.array([[0.0, -1.0, 0.0], [-1.0, 5.0, -1.0], [0.0, -1.0, 0.0]])


def edge_detection() -> np.ndarray:
    """The 3x3 all-direction edge kernel (8 at the centre, -1 around it); sums to zero.

    Examples
    --------
    >>> from sigconv import filters
    >>> filters.edge_detection()
    array([[-1., -1., -1.],
           [-1.,  8., -1.],
           [-1., -1., -1.]])
    >>> float(filters.edge_detection().sum())  # flat regions give 0
    0.0
    """
    k = -np.ones((3, 3))
    k[1, 1] = 8.0
    return k


def box_blur(size: int = 3) -> np.ndarray:
    """A ``size x size`` mean filter (every weight ``1 / size**2``).

    Examples
    --------
    >>> from sigconv import filters
    >>> filters.box_blur(3) * 9
    array([[1., 1., 1.],
           [1., 1., 1.],
           [1., 1., 1.]])
    """
    size = _odd_size(size)
    return np.full((size, size), 1.0 / size**2)


def gaussian_blur(size=None, sigma: float = 1.0, *, truncate: float = 4.0) -> np.ndarray:
    """A normalised 2-D Gaussian kernel.

    Parameters
    ----------
    size : odd int or None
        Edge length. None uses scipy.ndimage's radius ``int(truncate * sigma + 0.5)``, so the
        result matches ``scipy.ndimage.gaussian_filter(image, sigma, truncate=truncate)``.
    sigma : float
        Standard deviation in pixels, > 0.
    truncate : float
        Radius in standard deviations when ``size`` is None.

    Examples
    --------
    >>> from sigconv import filters
    >>> k = filters.gaussian_blur(sigma=1.0)
    >>> k.shape, round(float(k.sum()), 6)
    ((9, 9), 1.0)
    >>> filters.gaussian_blur(3, sigma=1.0).round(3)
    array([[0.075, 0.124, 0.075],
           [0.124, 0.204, 0.124],
           [0.075, 0.124, 0.075]])
    """
    sigma = _validate.check_float(sigma, "sigma")
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0; got {sigma!r}")
    if size is None:
        truncate = _validate.check_float(truncate, "truncate")
        if truncate <= 0:
            raise ValueError(f"truncate must be > 0; got {truncate!r}")
        radius = int(truncate * sigma + 0.5)
    else:
        radius = _odd_size(size) // 2
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    g = np.exp(-0.5 * (x / sigma) ** 2)
    g /= g.sum()
    return np.outer(g, g)


def laplacian() -> np.ndarray:
    """The 3x3 discrete Laplacian ``[[0, 1, 0], [1, -4, 1], [0, 1, 0]]`` (scipy.ndimage.laplace).

    Examples
    --------
    >>> from sigconv import filters
    >>> filters.laplacian()
    array([[ 0.,  1.,  0.],
           [ 1., -4.,  1.],
           [ 0.,  1.,  0.]])
    """
    return np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def sobel_x() -> np.ndarray:
    """Sobel kernel for the horizontal derivative (along columns, increasing to the right).

    Examples
    --------
    >>> from sigconv import filters
    >>> filters.sobel_x()
    array([[-1.,  0.,  1.],
           [-2.,  0.,  2.],
           [-1.,  0.,  1.]])
    """
    return np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


def sobel_y() -> np.ndarray:
    """Sobel kernel for the vertical derivative (along rows, increasing downwards).

    Examples
    --------
    >>> from sigconv import filters
    >>> filters.sobel_y()
    array([[-1., -2., -1.],
           [ 0.,  0.,  0.],
           [ 1.,  2.,  1.]])
    """
    return sobel_x().T.copy()


KERNELS = {
    "identity": identity,
    "sharpen": sharpen,
    "edge": edge_detection,
    "box_blur": box_blur,
    "gaussian_blur": gaussian_blur,
    "laplacian": laplacian,
    "sobel_x": sobel_x,
    "sobel_y": sobel_y,
}

# names accepted by filter_image (and `sigconv filter --kernel`): kernels plus the two filters
# that are not a single correlation
FILTERS = (*KERNELS, "sobel", "sepia")


def get_kernel(name: str, **params) -> np.ndarray:
    """The kernel called ``name`` (a key of :data:`KERNELS`), built with ``params``.

    Examples
    --------
    >>> from sigconv import filters
    >>> filters.get_kernel("box_blur", size=3).shape
    (3, 3)
    >>> filters.get_kernel("sobel_x")
    array([[-1.,  0.,  1.],
           [-2.,  0.,  2.],
           [-1.,  0.,  1.]])
    """
    _validate.check_option(name, "kernel", tuple(KERNELS))
    return KERNELS[name](**params)


def _image_and_axis(image, channel_axis):
    if _dask.is_dask_array(image):  # stays lazy: docs/contract.md §5
        _dask.check_array(image, "image", 2, 3)
    else:
        image = _validate.as_input_array(image, "image", min_ndim=2, max_ndim=3)
    if channel_axis is None:
        if image.ndim != 2:
            raise ValueError(
                f"image must be 2-D (grey) when channel_axis is None; got shape {image.shape} "
                "(pass channel_axis=-1 for a colour image)"
            )
        return image, None
    if isinstance(channel_axis, bool) or not isinstance(channel_axis, (numbers.Integral,)):
        raise TypeError(f"channel_axis must be None or an int; got {channel_axis!r}")
    if image.ndim != 3:
        raise ValueError(
            f"image must be 3-D (two spatial axes and channel_axis={channel_axis}); "
            f"got shape {image.shape}"
        )
    if not -3 <= channel_axis < 3:
        raise ValueError(f"channel_axis must be in [-3, 2] for a 3-D image; got {channel_axis}")
    return image, int(channel_axis) % 3


def apply(
    image,
    kernel,
    *,
    channel_axis=None,
    boundary: str = "reflect",
    cval: float = 0.0,
    backend: str = "auto",
) -> np.ndarray:
    """Filter a grey or colour image with a 2-D kernel (correlation, output the image's size).

    Parameters
    ----------
    image : array-like
        ``(H, W)``, or 3-D with a channel axis given by ``channel_axis``. A Dask array gives a
        lazy Dask array (docs/contract.md §5).
    kernel : str or array-like
        A 2-D kernel or the name of one in :data:`KERNELS` (built with its defaults).
    channel_axis : int or None
        The colour axis of a 3-D image; every channel is filtered with the same kernel.
    boundary : str
        How the image is extended past its edges (scipy.ndimage names): ``"reflect"``
        (default, as scipy.ndimage), ``"constant"`` (with ``cval``), ``"mirror"``, ``"nearest"``,
        ``"wrap"``.
    cval : float
        Fill value for ``boundary="constant"``.
    backend : {"auto", "cpu", "cuda"}

    Returns
    -------
    ndarray
        Same shape as ``image``; float32 for float32 images, float64 otherwise. Equal to
        ``scipy.ndimage.correlate(image, kernel, mode=boundary)`` per channel for odd kernels.

    Examples
    --------
    >>> import numpy as np
    >>> from sigconv import filters
    >>> ramp = np.tile(np.arange(6.0), (5, 1))
    >>> filters.apply(ramp, filters.sobel_x())[2]
    array([4., 8., 8., 8., 8., 4.])
    >>> rgb = np.zeros((16, 16, 3))
    >>> filters.apply(rgb, filters.box_blur(3), channel_axis=-1).shape
    (16, 16, 3)
    """
    image, axis = _image_and_axis(image, channel_axis)
    if isinstance(kernel, str):
        kernel = get_kernel(kernel)
    kernel = _validate.as_input_array(kernel, "kernel", min_ndim=2, max_ndim=2)
    _validate.check_option(boundary, "boundary", BOUNDARIES)
    # the kernels are float64; a float32 image keeps float32 (the policy would widen the mix)
    kernel = kernel.astype(_validate.compute_dtype(image), copy=False)
    from .signal import correlate  # imported here: the signal core pulls in the Numba kernels

    if axis is None:
        return correlate(image, kernel, mode="same", boundary=boundary, cval=cval, backend=backend)
    # channels first: one call filters the whole stack as batch items
    stack = np.moveaxis(image, axis, 0)
    out = correlate(stack, kernel, mode="same", boundary=boundary, cval=cval, backend=backend)
    return np.moveaxis(out, 0, axis)


def sobel(
    image, *, direction: str = "magnitude", channel_axis=None, boundary="reflect", backend="auto"
):
    """Sobel gradient: ``"x"``, ``"y"`` or the ``"magnitude"`` ``hypot(gx, gy)``.

    Examples
    --------
    >>> import numpy as np
    >>> from sigconv import filters
    >>> ramp = np.tile(np.arange(5.0), (4, 1))  # brightness rising by 1 per column
    >>> filters.sobel(ramp)[1]  # the gradient magnitude
    array([4., 8., 8., 8., 4.])
    """
    _validate.check_option(direction, "direction", ("x", "y", "magnitude"))
    kw = {"channel_axis": channel_axis, "boundary": boundary, "backend": backend}
    if direction == "x":
        return apply(image, sobel_x(), **kw)
    if direction == "y":
        return apply(image, sobel_y(), **kw)
    return np.hypot(apply(image, sobel_x(), **kw), apply(image, sobel_y(), **kw))


SEPIA_MATRIX = np.array(
    [
        [0.393, 0.769, 0.189],
        [0.349, 0.686, 0.168],
        [0.272, 0.534, 0.131],
    ]
)


def sepia(image, *, channel_axis: int = -1) -> np.ndarray:
    """Sepia tone: each output RGB value is a fixed mix of the input's R, G and B.

    ``image`` has 3 (RGB) or 4 (RGBA, alpha kept) channels along ``channel_axis``. Integer
    images are clipped to their dtype's maximum and returned in their dtype; float images are
    taken to be in [0, 1], clipped to it and returned as float (float32 stays float32).

    Examples
    --------
    >>> import numpy as np
    >>> from sigconv import filters
    >>> filters.sepia(np.array([[[0.5, 0.25, 0.0]]]))
    array([[[0.38875, 0.346  , 0.2695 ]]])
    >>> filters.sepia(np.full((2, 2, 3), 255, dtype=np.uint8))[0, 0]  # clipped to the dtype
    array([255, 255, 239], dtype=uint8)
    """
    image, axis = _image_and_axis(image, channel_axis)
    if image.shape[axis] not in (3, 4):
        raise ValueError(
            f"image must have 3 (RGB) or 4 (RGBA) channels along channel_axis={channel_axis}; "
            f"got {image.shape[axis]} in shape {image.shape}"
        )
    rgb = np.moveaxis(image, axis, -1)
    if image.dtype.kind in "iu":
        top = float(np.iinfo(image.dtype).max)
        dtype = image.dtype
    elif image.dtype.kind == "b":
        top, dtype = 1.0, np.float64
    else:
        top, dtype = 1.0, image.dtype
    mixed = rgb[..., :3].astype(np.float64) @ SEPIA_MATRIX.T
    mixed = np.clip(mixed, 0.0, top)  # not out=: a Dask image gives a Dask array here
    if rgb.shape[-1] == 4:
        mixed = np.concatenate([mixed, rgb[..., 3:].astype(np.float64)], axis=-1)
    if np.dtype(dtype).kind in "iu":
        mixed = np.rint(mixed)
    return np.moveaxis(mixed.astype(dtype), -1, axis)


def filter_image(image, name: str, *, channel_axis=None, boundary="reflect", backend="auto"):
    """Apply the filter called ``name`` (one of :data:`FILTERS`) with its default parameters.

    Examples
    --------
    >>> import numpy as np
    >>> from sigconv import filters
    >>> image = np.zeros((5, 5))
    >>> image[2, 2] = 1.0
    >>> filters.filter_image(image, "laplacian")[1:4, 1:4]
    array([[ 0.,  1.,  0.],
           [ 1., -4.,  1.],
           [ 0.,  1.,  0.]])
    """
    _validate.check_option(name, "name", FILTERS)
    if name == "sepia":
        return sepia(image, channel_axis=-1 if channel_axis is None else channel_axis)
    if name == "sobel":
        return sobel(image, channel_axis=channel_axis, boundary=boundary, backend=backend)
    return apply(image, name, channel_axis=channel_axis, boundary=boundary, backend=backend)


def separable_factors(kernel, *, rtol=None):
    """The 1-D factors of a rank-one (separable) 2-D or 3-D kernel, or None.

    ``sigconv.correlate``/``convolve`` with ``method="auto"`` run such a kernel as one 1-D pass
    per axis (docs/contract.md §1); this returns the factors they use, for inspection or for
    building filters by hand.

    Parameters
    ----------
    kernel : array-like
        A real 2-D or 3-D kernel (at most 32768 taps).
    rtol : float, optional
        Singular values below ``rtol`` times the largest count as zero; default 16 x float64's
        epsilon (float32 kernels: 16 x float32's epsilon).

    Returns
    -------
    list of ndarray or None
        ``[f0, f1]`` (or ``[f0, f1, f2]``), float64, with ``kernel`` equal to
        ``numpy.multiply.outer(f0, f1)`` (``...outer(outer(f0, f1), f2)``) to ``rtol``; None when
        the kernel is not rank one.

    Examples
    --------
    >>> import numpy as np
    >>> f0, f1 = separable_factors(sobel_x())
    >>> np.allclose(np.outer(f0, f1), sobel_x())
    True
    >>> separable_factors(laplacian()) is None
    True
    """
    from . import _separable

    kernel = _validate.as_input_array(kernel, "kernel", min_ndim=2, max_ndim=3)
    if rtol is not None:
        rtol = _validate.check_float(rtol, "rtol")
        if rtol < 0:
            raise ValueError(f"rtol must be >= 0; got {rtol!r}")
    if kernel.size > _separable.MAX_TAPS:
        raise ValueError(
            f"kernel must have at most {_separable.MAX_TAPS} taps; got shape {kernel.shape}"
        )
    dtype = np.float32 if kernel.dtype == np.float32 else np.float64
    return _separable.factors(kernel, dtype, rtol=rtol)
