"""Build time and size of Deskline's images with podman (docker/build-local.sh; not a test).

Runs docker/build-local.sh (as root, like the script itself) and prints JSON: seconds per
image as the script reports them, the whole run, and each image's size. ``--no-cache``
rebuilds every layer: the time a machine without a build cache takes (the base image and
its cached root file system are kept; delete debian:bookworm-slim and
/var/cache/deskline/images to time those too).

    .venv/bin/python bench/image_build.py [--no-cache]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def image_size_mb(image: str) -> float:
    size = subprocess.run(["podman", "image", "inspect", "--format", "{{.Size}}", image],
                          capture_output=True, text=True, check=True, timeout=60).stdout
    return round(int(size.strip()) / 1e6, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-cache", action="store_true", help="rebuild every layer")
    args = parser.parse_args()
    env = {**os.environ, "DESKLINE_NO_CACHE": "1" if args.no_cache else "0"}
    started = time.monotonic()
    run = subprocess.run([str(REPO / "docker" / "build-local.sh")], capture_output=True, text=True, env=env,
                         timeout=3600)
    total_s = time.monotonic() - started
    if run.returncode != 0:
        print(run.stdout[-3000:] + run.stderr[-3000:], file=sys.stderr)
        return 1
    steps = dict(re.findall(r"^build-local\.sh: (?:built|made) (\S+) in (\d+) s$", run.stdout, re.M))
    print(json.dumps({
        "no_cache": args.no_cache,
        "total_s": round(total_s, 1),
        "steps_s": {name: int(seconds) for name, seconds in steps.items()},
        "size_mb": {image: image_size_mb(image) for image in ("deskline:latest", "deskline-kamailio:latest")},
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
