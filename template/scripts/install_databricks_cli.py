"""Install a pinned Databricks CLI release, verified against the release's SHA-256 checksums.

`make databricks-cli` runs this with the version pinned in the Makefile, so developers and every
CI pipeline get the same CLI. It downloads the release archive for this machine and the release's
checksum file, refuses an archive whose digest does not match, and extracts the `databricks`
binary into the destination directory. Nothing is piped into a shell.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import platform
import stat
import sys
import urllib.request
import zipfile
from collections.abc import Sequence
from pathlib import Path

RELEASES_URL = "https://github.com/databricks/cli/releases/download"
SYSTEMS = {"Linux": "linux", "Darwin": "darwin", "Windows": "windows"}
MACHINES = {"x86_64": "amd64", "AMD64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def archive_name(version: str, system: str, machine: str) -> str:
    """Return the release archive for a platform, e.g. ``databricks_cli_1.0.0_linux_amd64.zip``."""
    try:
        return f"databricks_cli_{version}_{SYSTEMS[system]}_{MACHINES[machine]}.zip"
    except KeyError as missing:
        raise SystemExit(f"no Databricks CLI release for {system}/{machine}") from missing


def expected_digest(checksums: str, name: str) -> str:
    """Return the SHA-256 that a ``sha256sum``-style checksum file lists for ``name``."""
    for line in checksums.splitlines():
        digest, _, listed = line.strip().partition("  ")
        if listed.lstrip("*") == name:
            return digest.lower()
    raise SystemExit(f"the release's checksum file does not list {name}")


def download(url: str) -> bytes:
    """Return the body of ``url``, raising on any HTTP error."""
    with urllib.request.urlopen(url, timeout=60) as response:
        return response.read()


def install(version: str, dest: Path, base_url: str = RELEASES_URL) -> Path:
    """Download, verify and unpack the CLI ``version`` into ``dest``; return the binary's path."""
    name = archive_name(version, platform.system(), platform.machine())
    release = f"{base_url.rstrip('/')}/v{version}"
    checksums = download(f"{release}/databricks_cli_{version}_SHA256SUMS").decode()
    archive = download(f"{release}/{name}")
    digest = hashlib.sha256(archive).hexdigest()
    if digest != expected_digest(checksums, name):
        raise SystemExit(f"{name}: SHA-256 {digest} does not match the release's checksum")

    binary = "databricks.exe" if platform.system() == "Windows" else "databricks"
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / binary
    with zipfile.ZipFile(io.BytesIO(archive)) as bundle:
        target.write_bytes(bundle.read(binary))
    target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return target


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments and install the CLI."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", required=True, help="CLI release, e.g. 1.13.0")
    parser.add_argument("--dest", type=Path, required=True, help="directory for the binary")
    parser.add_argument(
        "--base-url",
        default=RELEASES_URL,
        help="where releases are published (an internal mirror, when GitHub is out of reach)",
    )
    args = parser.parse_args(argv)
    target = install(args.version, args.dest, args.base_url)
    print(f"Installed Databricks CLI {args.version} at {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
