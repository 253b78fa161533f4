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


def validate_image(
    stream: IO[bytes], *, size: int, max_bytes: int, max_pixels: int, declared_format: str | None = None
) -> ImageInfo:
    """Check an uploaded image and describe it, or raise ApiError with a stable code.

    `declared_format` is what the client's Content-Type claimed (None when it claimed nothing
    specific); a file that is something else is refused rather than trusted.
    """
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
            if declared_format is not None and declared_format != info.format:
                raise ApiError(
                    "content_type_mismatch",
                    f"The request says {declared_format} but the file is {info.format}.",
                    status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                )
            _decode_fully(image, max_pixels)
    _check_nothing_after_the_image(stream, info.format, size)
    stream.seek(0)
    return info


# How each format ends. Data after the end is how polyglots (an image that is also a ZIP,
# HTML or script file) are made; no camera writes it.
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_JPEG_END = b"\xff\xd9"


def _check_nothing_after_the_image(stream: IO[bytes], image_format: str, size: int) -> None:
    if image_format == "TIFF":
        return  # TIFF places its parts by offset anywhere in the file: no fixed end to check
    stream.seek(max(0, size - 4096))
    tail = stream.read()
    if image_format == "JPEG":
        whole = tail.rstrip(b"\x00").endswith(_JPEG_END)
    elif image_format == "PNG":
        whole = tail.endswith(_PNG_END)
    else:  # BMP: the header states the file's size
        stream.seek(2)
        declared = int.from_bytes(stream.read(4), "little")
        whole = declared in (0, size)
    if not whole:
        raise ApiError(
            "image_trailing_data",
            f"The file has data after the end of the {image_format} image (a polyglot or a damaged file).",
        )


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
