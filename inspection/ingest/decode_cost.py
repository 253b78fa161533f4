"""Whether an image's check is cheap enough for the ingest server's event loop.

What the check costs follows the pixels, not the bytes: a JPEG is checked by its structure
(inspection/ingest/imaging.py), but a PNG, BMP or TIFF is decoded in full, and a 154 KB PNG of
6300x6300 RGBA is 159 MB of pixels that took about a second to decode. Eight of them decoded on
the loop stalled /health for 7 s (issue 22). So the header's pixel count decides, read without
decoding a pixel; anything the header cannot tell goes to a thread too.
"""

import warnings
from typing import IO

from PIL import Image

# A JPEG's check reads all its bytes once (a scan for its end marker): bounded by its size.
INLINE_MAX_BYTES = 512 * 1024
JPEG_START = b"\xff\xd8\xff"  # SOI and the first marker's lead byte
# Decoding is about 10 ns a pixel: a 1.3 MP camera frame costs about 10 ms on the loop, beside
# the upload's other work; more goes to a thread.
INLINE_MAX_PIXELS = 1_500_000


def checks_inline(stream: IO[bytes], size: int) -> bool:
    """True if the image in `stream` (rewound afterwards) is checked quickly enough for the loop."""
    if size > INLINE_MAX_BYTES:
        return False
    if stream.read(3) == JPEG_START:  # the upload's usual format: no header parse needed to say yes
        stream.seek(0)
        return True
    stream.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(stream) as image:  # the header only: nothing is decoded here
                if image.format == "JPEG":
                    return True
                width, height = image.size
                return width * height <= INLINE_MAX_PIXELS
    except Exception:  # not an image, a bomb, a damaged header: the full check says which
        return False
    finally:
        stream.seek(0)
