"""Validation of uploaded images: format, byte size, pixel count, and a full decode.

The header is read first so that an image with too many pixels is refused before a single
pixel is decoded (a decompression bomb costs nothing). The decode then proves the file is
whole: a truncated JPEG fails here, at the door, not later on a worker. JPEGs are decoded with
`draft()` at 1/8 scale, which still reads every byte of the entropy-coded data (so truncation is
caught) for a fraction of the cost of a full decode.
"""

import warnings
from dataclasses import dataclass
from typing import IO

from PIL import Image, UnidentifiedImageError
from rest_framework import status

from config.errors import ApiError
from inspection.constants import IMAGE_FORMATS


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int
    height: int

    @property
    def extension(self) -> str:
        return IMAGE_FORMATS[self.format]


def check_image_size(size: int, *, max_bytes: int) -> None:
    if size == 0:
        raise ApiError("image_empty", "The image is empty.")
    if size > max_bytes:
        raise ApiError(
            "image_too_large",
            f"The image has {size} bytes; this server accepts at most {max_bytes}.",
            status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )


def validate_image(stream: IO[bytes], *, size: int, max_bytes: int, max_pixels: int) -> ImageInfo:
    """Check an uploaded image and describe it, or raise ApiError with a stable code."""
    check_image_size(size, max_bytes=max_bytes)
    stream.seek(0)
    with warnings.catch_warnings():
        # We enforce our own pixel limit below; Pillow's warning would only add noise.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(stream, formats=list(IMAGE_FORMATS))
        except Image.DecompressionBombError:
            raise _too_many_pixels(None, max_pixels) from None
        except UnidentifiedImageError:
            raise ApiError(
                "image_unrecognized",
                "The file is not an image in a supported format (JPEG, PNG, BMP, TIFF).",
                status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            ) from None
        with image:
            width, height = image.size
            if width * height > max_pixels:
                raise _too_many_pixels(width * height, max_pixels)
            info = ImageInfo(format=str(image.format), width=width, height=height)
            _decode_fully(image, max_pixels)
    stream.seek(0)
    return info


def _decode_fully(image: Image.Image, max_pixels: int) -> None:
    if image.format == "JPEG":
        image.draft(image.mode, (max(1, image.width // 8), max(1, image.height // 8)))
    try:
        image.load()
    except Image.DecompressionBombError:
        raise _too_many_pixels(None, max_pixels) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        if "truncated" in str(exc).lower() or isinstance(exc, EOFError):
            raise ApiError("image_truncated", "The image is truncated: its data ends early.") from None
        raise ApiError("image_corrupt", f"The image cannot be decoded: {exc}.") from None


def _too_many_pixels(pixels: int | None, max_pixels: int) -> ApiError:
    counted = f"{pixels} pixels" if pixels is not None else "too many pixels"
    return ApiError(
        "image_too_many_pixels",
        f"The image has {counted}; this server accepts at most {max_pixels}.",
        status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    )
