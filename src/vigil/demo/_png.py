"""A tiny PNG writer and reader (numpy + zlib), and a diverging colour map.

The demo's residual images are small 8-bit images; writing them needs no imaging
library. The reader understands exactly what the writer produces (8-bit grey, RGB or
RGBA, not interlaced, any of the five row filters) and exists so that tests and callers
can check an image without Pillow.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np

__all__ = ["PNG_SIGNATURE", "PngInfo", "decode_png", "diverging_rgb", "encode_png", "png_info"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# PNG colour types by number of channels: grey, RGB, RGBA.
_COLOUR_TYPES = {1: 0, 3: 2, 4: 6}
_CHANNELS = {value: key for key, value in _COLOUR_TYPES.items()}


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def encode_png(image: np.ndarray, *, compression: int = 6) -> bytes:
    """Encode an 8-bit image as PNG bytes.

    Parameters
    ----------
    image
        ``(height, width)`` grey, or ``(height, width, 3)`` RGB, or ``(height, width, 4)``
        RGBA, of dtype uint8.
    compression
        zlib level, 0-9.

    Raises
    ------
    ValueError
        The array is not an 8-bit image of one of those shapes.
    """
    array = np.asarray(image)
    if array.dtype != np.uint8:
        raise ValueError(f"a PNG image must be uint8, not {array.dtype}")
    if array.ndim == 2:
        array = array[:, :, np.newaxis]
    if array.ndim != 3 or array.shape[2] not in _COLOUR_TYPES or 0 in array.shape:
        raise ValueError(f"cannot encode an array of shape {image.shape} as PNG")
    height, width, channels = array.shape
    # Filter type 0 (None) on every row: each row is prefixed by a zero byte.
    rows = np.zeros((height, 1 + width * channels), dtype=np.uint8)
    rows[:, 1:] = array.reshape(height, width * channels)
    header = struct.pack(">IIBBBBB", width, height, 8, _COLOUR_TYPES[channels], 0, 0, 0)
    return b"".join(
        (
            PNG_SIGNATURE,
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", zlib.compress(rows.tobytes(), compression)),
            _chunk(b"IEND", b""),
        )
    )


@dataclass(frozen=True, slots=True)
class PngInfo:
    """The header of a PNG file."""

    width: int
    height: int
    bit_depth: int
    colour_type: int

    @property
    def channels(self) -> int:
        """Samples per pixel (1 grey, 3 RGB, 4 RGBA; 0 for other colour types)."""
        return _CHANNELS.get(self.colour_type, 0)


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG file: the 8-byte signature is missing")
    chunks = []
    position = len(PNG_SIGNATURE)
    while position < len(data):
        if position + 8 > len(data):
            raise ValueError("truncated PNG chunk header")
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        crc_bytes = data[position + 8 + length : position + 12 + length]
        if len(body) != length or len(crc_bytes) != 4:
            raise ValueError(f"truncated PNG chunk {kind!r}")
        if struct.unpack(">I", crc_bytes)[0] != zlib.crc32(kind + body) & 0xFFFFFFFF:
            raise ValueError(f"bad CRC in PNG chunk {kind!r}")
        chunks.append((kind, body))
        position += 12 + length
        if kind == b"IEND":
            break
    if not chunks or chunks[0][0] != b"IHDR":
        raise ValueError("the first PNG chunk is not IHDR")
    return chunks


def png_info(data: bytes) -> PngInfo:
    """Read the IHDR of PNG *data* (checking the signature and the chunk's CRC).

    Raises
    ------
    ValueError
        Not a PNG file.
    """
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG file: the 8-byte signature is missing")
    (length,) = struct.unpack(">I", data[8:12])
    if data[12:16] != b"IHDR" or length != 13:
        raise ValueError("the first PNG chunk is not IHDR")
    body = data[16:29]
    if struct.unpack(">I", data[29:33])[0] != zlib.crc32(b"IHDR" + body) & 0xFFFFFFFF:
        raise ValueError("bad CRC in PNG chunk b'IHDR'")
    width, height, depth, colour, _, _, _ = struct.unpack(">IIBBBBB", body)
    return PngInfo(width, height, depth, colour)


def _paeth(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    p = a.astype(np.int16) + b - c
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
    return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))


def decode_png(data: bytes) -> np.ndarray:
    """Decode an 8-bit grey, RGB or RGBA PNG into a ``(height, width[, channels])`` array.

    Raises
    ------
    ValueError
        Not a PNG file, or one this reader does not handle (palette, 16-bit, interlaced).
    """
    chunks = _chunks(data)
    info = png_info(data)
    interlace = chunks[0][1][12]
    if info.bit_depth != 8 or info.channels == 0 or interlace:
        raise ValueError(
            f"unsupported PNG: bit depth {info.bit_depth}, colour type {info.colour_type},"
            f" interlace {interlace}"
        )
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    bpp = info.channels
    stride = info.width * bpp
    if len(raw) != info.height * (stride + 1):
        raise ValueError("PNG image data does not match the size in IHDR")
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(info.height, stride + 1)
    out = np.zeros((info.height, stride), dtype=np.uint8)
    previous = np.zeros(stride, dtype=np.uint8)
    for y in range(info.height):
        kind, line = rows[y, 0], rows[y, 1:].astype(np.int16)
        if kind == 0:
            current = line
        elif kind == 2:
            current = line + previous
        else:
            current = np.zeros(stride, dtype=np.int16)
            for x in range(stride):
                left = current[x - bpp] if x >= bpp else 0
                up = int(previous[x])
                if kind == 1:
                    predicted = left
                elif kind == 3:
                    predicted = (left + up) // 2
                elif kind == 4:
                    upper_left = int(previous[x - bpp]) if x >= bpp else 0
                    predicted = int(_paeth(np.array(left), np.array(up), np.array(upper_left)))
                else:
                    raise ValueError(f"unknown PNG row filter {kind}")
                current[x] = (line[x] + predicted) & 0xFF
        out[y] = (current & 0xFF).astype(np.uint8)
        previous = out[y]
    image = out.reshape(info.height, info.width, bpp)
    return image[:, :, 0] if bpp == 1 else image


# Blue - white - red, as in ColorBrewer's RdBu (reversed): negative residuals blue.
_DIVERGING = np.array(
    [
        [33, 102, 172],
        [103, 169, 207],
        [209, 229, 240],
        [247, 247, 247],
        [253, 219, 199],
        [239, 138, 98],
        [178, 24, 43],
    ],
    dtype=float,
)


def diverging_rgb(values: np.ndarray, limit: float) -> np.ndarray:
    """Map *values* in ``[-limit, limit]`` to blue-white-red uint8 RGB (clipped outside)."""
    scaled = np.clip((np.asarray(values, dtype=float) / limit + 1.0) / 2.0, 0.0, 1.0)
    scaled = np.nan_to_num(scaled, nan=0.5)
    position = scaled * (len(_DIVERGING) - 1)
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, len(_DIVERGING) - 1)
    weight = (position - low)[..., np.newaxis]
    rgb: np.ndarray = _DIVERGING[low] * (1 - weight) + _DIVERGING[high] * weight
    return np.round(rgb).astype(np.uint8)
