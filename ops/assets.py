"""The front-end libraries the admin pages serve themselves, fetched from the npm registry.

Pinned by version and by the registry's sha512 integrity; the files land under
webapp/static/vendor/ (not in git), and `make` fetches them once after installing the package.
Run by hand: `python -m ops.assets`.
"""

import base64
import hashlib
import io
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import httpx

VENDOR_DIR = Path(__file__).resolve().parent.parent / "webapp" / "static" / "vendor"
REGISTRY = "https://registry.npmjs.org"
TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class Asset:
    package: str
    version: str
    integrity: str
    # Path inside the package tarball, and the file name it is served as.
    member: str
    served_as: str


ASSETS = (
    Asset(
        package="htmx.org",
        version="2.0.11",
        integrity="sha512-Thx/WtpeOQqSrqBCw/A1cwGJGg4UrVa3+sW0GmrM3p4gJgO89ecH4qtbnyzDDWFvBTqjnIMCgELTNt636dtamA==",
        member="package/dist/htmx.min.js",
        served_as="htmx.min.js",
    ),
)


def _verified(asset: Asset, tarball: bytes) -> bytes:
    algorithm, _, expected = asset.integrity.partition("-")
    actual = base64.b64encode(hashlib.new(algorithm, tarball).digest()).decode()
    if actual != expected:
        raise SystemExit(
            f"{asset.package}@{asset.version}: the registry's tarball does not match the pinned"
            f" integrity ({algorithm}-{actual}); refusing to use it"
        )
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        member = archive.extractfile(asset.member)
        if member is None:
            raise SystemExit(f"{asset.package}@{asset.version} has no {asset.member}")
        return member.read()


def fetch(asset: Asset) -> Path:
    target = VENDOR_DIR / asset.served_as
    stamp = target.with_name(target.name + ".version")
    wanted = f"{asset.package}@{asset.version}"
    if target.exists() and stamp.exists() and stamp.read_text().strip() == wanted:
        return target
    name = asset.package.rsplit("/", 1)[-1]
    url = f"{REGISTRY}/{asset.package}/-/{name}-{asset.version}.tgz"
    response = httpx.get(url, timeout=TIMEOUT_SECONDS, follow_redirects=True)
    response.raise_for_status()
    VENDOR_DIR.mkdir(parents=True, exist_ok=True)
    target.write_bytes(_verified(asset, response.content))
    stamp.write_text(wanted + "\n")
    return target


def main() -> None:
    for asset in ASSETS:
        try:
            path = fetch(asset)
        except httpx.HTTPError as error:
            sys.exit(f"cannot fetch {asset.package}@{asset.version} from {REGISTRY}: {error}")
        print(f"{asset.package}@{asset.version} -> {path}")


if __name__ == "__main__":
    main()
