"""Subprocess helper for the store tests: uploads from a separate process.

python _child.py slow ROOT [S3URL ENDPOINT]   upload an endless stream slowly (to be killed mid-way),
                                              to ROOT's folder or to the S3 backend at S3URL
python _child.py put ROOT GO N    wait for file GO, upload N deterministic bytes, print the CID
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from databright.store import BlobStore

CHUNK = 256 << 10


def endless() -> Iterator[bytes]:
    rng = random.Random(1)
    for i in range(1 << 30):
        yield rng.randbytes(CHUNK)
        if i == 12:  # 3 MiB in: several sealed segments are in the temp file
            print("uploading", flush=True)
        time.sleep(0.01)


def deterministic(n: int) -> Iterator[bytes]:
    data = random.Random(7).randbytes(n)
    for i in range(0, n, CHUNK):
        yield data[i : i + CHUNK]
        time.sleep(0.002)  # widen the window in which the racing uploads overlap


def main() -> None:
    mode, root = sys.argv[1], Path(sys.argv[2])
    if mode == "slow" and len(sys.argv) > 3:
        from databright.store.lib.s3 import S3Backend, client_for, parse_url

        bucket, prefix = parse_url(sys.argv[3])
        store = BlobStore(root, backend=S3Backend(client_for(sys.argv[4]), bucket, prefix, part_size=5 << 20))
    else:
        store = BlobStore(root)
    if mode == "slow":
        store.put_stream(endless())
    elif mode == "put":
        go, size = Path(sys.argv[3]), int(sys.argv[4])
        print("ready", flush=True)
        while not go.exists():
            time.sleep(0.001)
        print(store.put_stream(deterministic(size)), flush=True)


if __name__ == "__main__":
    main()
