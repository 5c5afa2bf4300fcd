"""The reference TUF client (python-tuf's ngclient) against a wua repository.

Usage: tuf_client.py METADATA_DIR BASE_URL TRUSTED_ROOT TARGET_DIR TARGET...
Refreshes from BASE_URL (the served tree: metadata/ and targets/), starting from TRUSTED_ROOT,
then downloads each TARGET (through delegations where they live) and prints one line per
target: "OK name length path". Any failure raises, so the exit status is non-zero.
"""

import os
import sys

from tuf.ngclient import Updater


def main() -> None:
    metadata_dir, base_url, trusted_root, target_dir, *names = sys.argv[1:]
    os.makedirs(metadata_dir, exist_ok=True)
    os.makedirs(target_dir, exist_ok=True)
    with open(trusted_root, "rb") as f:
        root = f.read()
    updater = Updater(
        metadata_dir=metadata_dir,
        metadata_base_url=base_url + "metadata/",
        target_dir=target_dir,
        target_base_url=base_url + "targets/",
        bootstrap=root,
    )
    updater.refresh()
    for name in names:
        info = updater.get_targetinfo(name)
        if info is None:
            raise SystemExit(f"MISSING {name}")
        path = updater.download_target(info)
        print("OK", name, info.length, path)


if __name__ == "__main__":
    main()
