"""sigconv.filters against scipy.ndimage and scikit-image."""

import numpy as np
import pytest
from scipy import ndimage

from sigconv import filters

BOUNDARIES = ["reflect", "constant", "mirror", "nearest", "wrap"]


@pytest.fixture
def grey(rng):
    return rng.random((23, 31))


@pytest.fixture
def colour(rng):
    return rng.random((17, 19, 3))


def test_kernel_definitions():
    np.testing.assert_array_equal(filters.identity(), [[0, 0, 0], [0, 1, 0], [0, 0, 0]])
    assert filters.identity(5)[2, 2] == 1 and filters.identity(5).sum() == 1
    assert filters.sharpen().sum() == 1
    assert filters.edge_detection().sum() == 0 and filters.edge_detection()[1, 1] == 8
    np.testing.assert_allclose(filters.box_blur(5), np.full((5, 5), 1 / 25))
    assert filters.laplacian().sum() == 0
    g = filters.gaussian_blur(sigma=1.5)
    assert g.shape == (13, 13)  # radius int(4 * 1.5 + 0.5) = 6
    np.testing.assert_allclose(g.sum(), 1.0)
    np.testing.assert_allclose(g, g.T)
    assert filters.gaussian_blur(5, sigma=2.0).shape == (5, 5)
    np.testing.assert_array_equal(filters.sobel_y(), filters.sobel_x().T)


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda: filters.box_blur(4), ValueError, "size"),
        (lambda: filters.box_blur(2.0), TypeError, "size"),
        (lambda: filters.gaussian_blur(sigma=0), ValueError, "sigma"),
        (lambda: filters.gaussian_blur(sigma="1"), TypeError, "sigma"),
        (lambda: filters.get_kernel("blur"), ValueError, "kernel"),
        (lambda: filters.apply(np.zeros((4, 4, 3)), "sharpen"), ValueError, "channel_axis"),
        (lambda: filters.apply(np.zeros((4, 4)), "sharpen", channel_axis=0), ValueError, "3-D"),
        (lambda: filters.apply(np.zeros(4), "sharpen"), ValueError, "image"),
        (lambda: filters.apply(np.zeros((4, 4)), np.ones(3)), ValueError, "kernel"),
        (lambda: filters.apply(np.zeros((4, 4)), "edge", boundary="zero"), ValueError, "boundary"),
        (lambda: filters.sepia(np.zeros((4, 4, 2))), ValueError, "channels"),
        (lambda: filters.filter_image(np.zeros((4, 4)), "emboss"), ValueError, "name"),
    ],
)
def test_bad_arguments(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize("name", sorted(filters.KERNELS))
@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_apply_matches_ndimage_correlate(grey, name, boundary):
    k = filters.get_kernel(name)
    out = filters.apply(grey, name, boundary=boundary, cval=0.5)
    expected = ndimage.correlate(grey, k, mode=boundary, cval=0.5)
    np.testing.assert_allclose(out, expected, atol=1e-12)


def test_named_filters_match_ndimage_and_skimage(grey):
    skf = pytest.importorskip("skimage.filters")
    np.testing.assert_allclose(filters.apply(grey, "identity"), grey, atol=1e-14)
    np.testing.assert_allclose(
        filters.apply(grey, "box_blur"), ndimage.uniform_filter(grey, 3), atol=1e-12
    )
    np.testing.assert_allclose(
        filters.apply(grey, filters.gaussian_blur(sigma=1.3)),
        ndimage.gaussian_filter(grey, 1.3),
        atol=1e-12,
    )
    np.testing.assert_allclose(
        filters.apply(grey, filters.gaussian_blur(sigma=1.3)),
        skf.gaussian(grey, sigma=1.3, mode="reflect", preserve_range=True),
        atol=1e-12,
    )
    np.testing.assert_allclose(filters.apply(grey, "laplacian"), ndimage.laplace(grey), atol=1e-12)
    np.testing.assert_allclose(
        filters.sobel(grey, direction="x"), ndimage.sobel(grey, axis=1), atol=1e-12
    )
    np.testing.assert_allclose(
        filters.sobel(grey, direction="y"), ndimage.sobel(grey, axis=0), atol=1e-12
    )
    magnitude = np.hypot(ndimage.sobel(grey, axis=0), ndimage.sobel(grey, axis=1))
    np.testing.assert_allclose(filters.sobel(grey), magnitude, atol=1e-12)
    # skimage's sobel magnitude is normalised by 4 * sqrt(2) and zeroes the 1-pixel border
    ref = skf.sobel(grey)
    np.testing.assert_allclose(
        (filters.sobel(grey) / (4 * np.sqrt(2)))[1:-1, 1:-1], ref[1:-1, 1:-1], atol=1e-12
    )
    # sharpen = image - laplacian
    np.testing.assert_allclose(
        filters.apply(grey, "sharpen"), grey - ndimage.laplace(grey), atol=1e-12
    )


@pytest.mark.parametrize("channel_axis", [0, -1, 1])
def test_apply_colour_filters_each_channel(colour, channel_axis):
    image = np.moveaxis(colour, -1, channel_axis)
    out = filters.apply(image, "gaussian_blur", channel_axis=channel_axis)
    assert out.shape == image.shape
    k = filters.gaussian_blur()
    for c in range(3):
        np.testing.assert_allclose(
            np.take(out, c, axis=channel_axis),
            ndimage.correlate(colour[..., c], k, mode="reflect"),
            atol=1e-12,
        )


def test_apply_dtypes_layouts_and_no_mutation(colour):
    img32 = np.asfortranarray(colour.astype(np.float32))
    before = img32.copy()
    out = filters.apply(img32, "edge", channel_axis=-1)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(img32, before)
    expected = np.stack(
        [ndimage.correlate(colour[..., c], filters.edge_detection()) for c in range(3)], -1
    )
    np.testing.assert_allclose(out, expected, atol=2e-5)
    u8 = (colour * 255).astype(np.uint8)
    out8 = filters.apply(u8[::-1, :, 0], "box_blur")
    assert out8.dtype == np.float64
    np.testing.assert_allclose(
        out8, ndimage.uniform_filter(u8[::-1, :, 0].astype(float), 3), atol=1e-10
    )
    # list input and a read-only view
    ro = colour[..., 1].copy()
    ro.flags.writeable = False
    np.testing.assert_allclose(
        filters.apply(ro.tolist(), "laplacian"), ndimage.laplace(ro), atol=1e-12
    )


def test_sepia_matches_per_pixel_formula(rng):
    img = rng.random((5, 6, 3))
    out = filters.sepia(img)
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    expected = np.stack(
        [
            0.393 * r + 0.769 * g + 0.189 * b,
            0.349 * r + 0.686 * g + 0.168 * b,
            0.272 * r + 0.534 * g + 0.131 * b,
        ],
        -1,
    )
    np.testing.assert_allclose(out, np.minimum(expected, 1.0), atol=1e-12)
    # uint8 stays uint8, clipped at 255; alpha kept; channels-first accepted
    u8 = (img * 255).astype(np.uint8)
    rgba = np.concatenate([u8, np.full((5, 6, 1), 7, np.uint8)], -1)
    out8 = filters.sepia(np.moveaxis(rgba, -1, 0), channel_axis=0)
    assert out8.dtype == np.uint8 and out8.shape == (4, 5, 6)
    assert (out8[3] == 7).all()
    exp8 = np.rint(np.minimum((u8.astype(float) @ filters.SEPIA_MATRIX.T), 255)).astype(np.uint8)
    np.testing.assert_array_equal(np.moveaxis(out8[:3], 0, -1), exp8)
    assert filters.sepia(img.astype(np.float32)).dtype == np.float32


@pytest.mark.parametrize("name", filters.FILTERS)
def test_filter_image_every_name(colour, name):
    out = filters.filter_image(colour, name, channel_axis=-1)
    assert out.shape == colour.shape and np.isfinite(out).all()
