"""A tablet's photo brought under the budget of a 3G message: re-encoded as a baseline JPEG
with no metadata (EXIF, GPS, comments, thumbnails, ICC), its longest side capped, quality then
size lowered until it fits. Pure: bytes in, bytes out."""

from __future__ import annotations

import io
import warnings

MAX_BYTES = 150_000
MAX_SIDE = 1280
MIN_SIDE = 320
QUALITIES = (82, 72, 62, 52, 42)
# A tablet camera gives at most ~50 megapixels; more is a decompression bomb, not a photo.
MAX_PIXELS = 60_000_000


class PhotoError(ValueError):
    """Not a picture this appliance can send (not an image, damaged, too large)."""


def fit_photo(data: bytes, *, max_bytes: int = MAX_BYTES, max_side: int = MAX_SIDE) -> bytes:
    """The photo as a JPEG of at most `max_bytes`, longest side at most `max_side`, upright
    (the EXIF orientation applied before EXIF is dropped), with no metadata at all."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                if probe.width * probe.height > MAX_PIXELS:
                    raise PhotoError(f"image too large ({probe.width}×{probe.height} pixels)")
                # a JPEG decoded straight at a fraction of its size: less memory and time
                probe.draft("RGB", (max_side, max_side))
                probe.load()
                image = ImageOps.exif_transpose(probe)
    except (UnidentifiedImageError, Image.DecompressionBombWarning, OSError, SyntaxError) as e:
        raise PhotoError(f"not a readable image: {e}") from None
    # a fresh image from the pixels alone: nothing of the original's info dict can follow
    image = image.convert("RGB")
    clean = Image.new("RGB", image.size)
    clean.paste(image)
    side = max_side
    while True:
        frame = clean.copy()
        frame.thumbnail((side, side), Image.Resampling.LANCZOS)
        for quality in QUALITIES:
            out = io.BytesIO()
            frame.save(out, "JPEG", quality=quality, optimize=True)
            if out.tell() <= max_bytes:
                return out.getvalue()
        if side <= MIN_SIDE:
            raise PhotoError(f"cannot bring the photo under {max_bytes} bytes")
        side = max(MIN_SIDE, int(side * 0.75))
