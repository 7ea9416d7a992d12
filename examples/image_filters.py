"""Image filters
=============

The lecture's kernels on scikit-image's sample images, saved as one figure.

Usage::

    python examples/image_filters.py [--out image_filters.png] [--quick]

Every filter of ``sigconv.filters`` (identity, sharpen, edge detection, box and Gaussian blur,
Laplacian, Sobel, sepia) is applied to the grey ``camera`` image and the colour ``astronaut``
image (all three channels in one ``sigconv.correlate`` call); the results are tiled into one
PNG. Needs matplotlib (``pip install 'sigconv[plot]'``).
"""

import argparse

import numpy as np
from skimage import data
from skimage.transform import rescale

from sigconv import filters


def _show(image, signed):
    if signed:  # edges and derivatives: magnitude, scaled to [0, 1]
        image = np.abs(image)
        image = image / max(float(image.max()), 1e-12)
    return np.clip(image, 0, 1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--out", default="image_filters.png", help="where to save the figure")
    parser.add_argument("--quick", action="store_true", help="small images (smoke test)")
    args = parser.parse_args(argv)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SystemExit("this example needs matplotlib: pip install 'sigconv[plot]'") from None

    scale = 0.125 if args.quick else 0.5
    grey = rescale(data.camera() / 255.0, scale, anti_aliasing=True)
    colour = rescale(data.astronaut() / 255.0, scale, anti_aliasing=True, channel_axis=-1)
    names = list(filters.FILTERS)
    signed = {"edge", "laplacian", "sobel_x", "sobel_y", "sobel"}
    fig, axes = plt.subplots(2, len(names), figsize=(2.0 * len(names), 4.4))
    for j, name in enumerate(names):
        for i, (image, axis) in enumerate(((grey, None), (colour, -1))):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if name == "sepia" and axis is None:
                ax.set_axis_off()
                continue
            out = filters.filter_image(image, name, channel_axis=axis)
            ax.imshow(_show(out, name in signed), cmap="gray" if axis is None else None)
            if i == 0 or name == "sepia":
                ax.set_title(name, fontsize=9)
    fig.suptitle("sigconv.filters on scikit-image's camera and astronaut")
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)
    print(f"saved {args.out} ({len(names)} filters on 2 images)")


if __name__ == "__main__":
    main()
