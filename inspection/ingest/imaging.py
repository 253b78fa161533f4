"""Validation of uploaded images: format, byte size, pixel count, wholeness.

The header is read first so that an image with too many pixels is refused before a single
pixel is decoded (a decompression bomb costs nothing). Then the file must be whole, with
nothing after its end:

- JPEG, the format of high-rate lines, is checked by structure: a whole JPEG ends with its
  EOI marker. Decoding it at the door (costly even at 1/8 scale, docs/performance.md#ingest) would add
  little: JPEG decoders pass over damaged entropy-coded data, and the worker fails an image it
  cannot decode with `image_decode_failed`.
- PNG, BMP and TIFF are decoded in full, which is how a truncated or damaged one shows.
"""

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO

from PIL import Image, UnidentifiedImageError

from inspection.constants import IMAGE_FORMATS
from inspection.errors import KensaError


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
        raise KensaError("image_empty", "The image is empty.")
    if size > max_bytes:
        raise KensaError("image_too_large", f"The image has {size} bytes; this server accepts at most {max_bytes}.")


def validate_image(
    stream: IO[bytes], *, size: int, max_bytes: int, max_pixels: int, declared_format: str | None = None
) -> ImageInfo:
    """Check an uploaded image and describe it, or raise KensaError with a stable code.

    `declared_format` is what the client's Content-Type claimed (None when it claimed nothing
    specific); a file that is something else is refused rather than trusted.
    """
    check_image_size(size, max_bytes=max_bytes)
    stream.seek(0)
    with warnings.catch_warnings(), _decoder_errors(max_pixels):
        # We enforce our own pixel limit below; Pillow's warning would only add noise.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        image = Image.open(stream, formats=list(IMAGE_FORMATS))
        with image:
            width, height = image.size
            if width * height > max_pixels:
                raise _too_many_pixels(width * height, max_pixels)
            info = ImageInfo(format=str(image.format), width=width, height=height)
            if declared_format is not None and declared_format != info.format:
                raise KensaError(
                    "content_type_mismatch", f"The request says {declared_format} but the file is {info.format}."
                )
            if info.format != "JPEG":
                image.load()  # how a truncated or damaged PNG, BMP or TIFF shows
    _check_nothing_after_the_image(stream, info.format, size)
    stream.seek(0)
    return info


# How each format ends. Data after the end is how polyglots (an image that is also a ZIP,
# HTML or script file) are made; no camera writes it.
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_JPEG_END = b"\xff\xd9"
# The regex engine finds this two-byte marker in a camera JPEG markedly faster than bytes.find,
# a noticeable share of an upload's CPU (docs/performance.md#ingest).
_JPEG_END_SEARCH = re.compile(re.escape(_JPEG_END))
_JPEG_START_OF_SCAN = b"\xff\xda"


def _jpeg_is_whole(stream: IO[bytes]) -> bool:
    """True if the JPEG ends at its EOI marker; raises image_truncated if it has none.

    Entropy-coded data never holds FF D9 (an FF there is always followed by 00 or a restart
    marker), so the first EOI after the first start-of-scan is where the image ends.
    """
    stream.seek(0)
    data = stream.read()
    scan = data.find(_JPEG_START_OF_SCAN)
    found = _JPEG_END_SEARCH.search(data, scan) if scan >= 0 else None
    if found is None:
        raise KensaError("image_truncated", "The image is truncated: its data ends early.")
    return not data[found.end() :].strip(b"\x00")


def _check_nothing_after_the_image(stream: IO[bytes], image_format: str, size: int) -> None:
    if image_format == "TIFF":
        return  # TIFF places its parts by offset anywhere in the file: no fixed end to check
    if image_format == "JPEG":
        whole = _jpeg_is_whole(stream)
    elif image_format == "PNG":
        stream.seek(max(0, size - len(_PNG_END)))
        tail = stream.read()
        whole = tail.endswith(_PNG_END)
    else:  # BMP: the header states the file's size
        stream.seek(2)
        declared = int.from_bytes(stream.read(4), "little")
        whole = declared in (0, size)
    if not whole:
        raise KensaError(
            "image_trailing_data",
            f"The file has data after the end of the {image_format} image (a polyglot or a damaged file).",
        )


@contextmanager
def _decoder_errors(max_pixels: int) -> Iterator[None]:
    """Every failure of Pillow's as a refusal with a code. Its format parsers raise whatever
    their parsing happens to hit (OSError for a BMP whose compression is 99, SyntaxError,
    ValueError, struct.error, ZeroDivisionError, KeyError, IndexError...): on a client's file
    any of them means that the file cannot be decoded, never a 500."""
    try:
        yield
    except KensaError:
        raise
    except Image.DecompressionBombError:
        raise _too_many_pixels(None, max_pixels) from None
    except UnidentifiedImageError:
        raise KensaError(
            "image_unrecognized", "The file is not an image in a supported format (JPEG, PNG, BMP, TIFF)."
        ) from None
    except Exception as exc:
        if isinstance(exc, EOFError) or "truncated" in str(exc).lower():
            raise KensaError("image_truncated", "The image is truncated: its data ends early.") from None
        raise KensaError("image_corrupt", f"The image cannot be decoded: {type(exc).__name__}: {exc}.") from None


def _too_many_pixels(pixels: int | None, max_pixels: int) -> KensaError:
    counted = f"{pixels} pixels" if pixels is not None else "too many pixels"
    return KensaError("image_too_many_pixels", f"The image has {counted}; this server accepts at most {max_pixels}.")
