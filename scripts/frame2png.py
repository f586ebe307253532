#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Cut frames out of the ivshmem backing files and save them as PNG.

  frame2png.py RUNDIR LOG

LOG holds lines the guest printed for frames it left in device memory:

  frame NAME REGION-SIZE BAR-OFFSET WIDTH HEIGHT PITCH XR24

(an XRGB8888 frame of WIDTH x HEIGHT pixels, PITCH bytes per row, at
BAR-OFFSET in the device whose memory is REGION-SIZE bytes). Each frame is
read from the backing file of that size in RUNDIR, written to
RUNDIR/NAME.png, and the path printed. Exit status 1 if a frame is missing.
"""
import glob
import os
import struct
import sys
import zlib


def png(path, width, height, rows):
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\0" + row for row in rows)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 6)))
        f.write(chunk(b"IEND", b""))


def xrgb_to_rgb(line, width):
    out = bytearray(3 * width)
    out[0::3] = line[2:4 * width:4]
    out[1::3] = line[1:4 * width:4]
    out[2::3] = line[0:4 * width:4]
    return bytes(out)


def main():
    run, log = sys.argv[1], sys.argv[2]
    frames = [l.split() for l in open(log, errors="replace") if l.startswith("frame ")]
    if not frames:
        print(f"frame2png: no frame in {log}", file=sys.stderr)
        return 1
    for _, name, size, off, width, height, pitch, fourcc in frames:
        size, off, width, height, pitch = (int(v, 0) for v in (size, off, width, height, pitch))
        if fourcc != "XR24":
            print(f"frame2png: {name}: format {fourcc} is not supported", file=sys.stderr)
            return 1
        imgs = [i for i in glob.glob(os.path.join(run, "ivshmem*.img"))
                if os.path.getsize(i) == size]
        if len(imgs) != 1:
            print(f"frame2png: {name}: no single backing file of {size} bytes", file=sys.stderr)
            return 1
        with open(imgs[0], "rb") as f:
            f.seek(off)
            data = f.read(pitch * height)
        rows = [xrgb_to_rgb(data[y * pitch:(y + 1) * pitch], width) for y in range(height)]
        out = os.path.join(run, name + ".png")
        png(out, width, height, rows)
        print(f"{out}: {width}x{height}, cut from {os.path.basename(imgs[0])} at {off:#x}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
