"""`python -m image_build build|test`: the SD-card image and its emulated boot test."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import click

DEFAULT_CACHE = os.environ.get("KENEYA_IMAGE_CACHE", "/var/cache/keneya-image")


@click.group()
def cli() -> None:
    """Build the SD-card image, or boot-test it under qemu."""


@cli.command("build")
@click.option("--out", default="build", show_default=True, type=click.Path(file_okay=False))
@click.option(
    "--cache",
    default=DEFAULT_CACHE,
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where the root filesystem is kept between builds (env KENEYA_IMAGE_CACHE).",
)
@click.option("--work", default="build/work", show_default=True, type=click.Path(file_okay=False))
@click.option("--no-raw", is_flag=True, help="Keep only the .img.xz, not the raw .img beside it.")
@click.option(
    "--update-cert",
    envvar="KENEYA_UPDATE_CERT",
    type=click.Path(dir_okay=False, exists=True),
    help="The district's bundle-signing certificate, RAUC's keyring on the card (env"
    " KENEYA_UPDATE_CERT). Without it: the development certificate, for tests only.",
)
def build_command(out: str, cache: str, work: str, no_raw: bool, update_cert: str | None) -> None:
    """Build build/keneya-<version>-arm64.img.xz, its .sha256 and its manifest."""
    from image_build.build import BuildError, build, progress, rootfs_tar

    started = time.monotonic()
    cached = rootfs_tar(Path(cache)).exists()
    try:
        manifest = build(
            Path(out),
            Path(cache),
            Path(work),
            keep_raw=not no_raw,
            update_cert=Path(update_cert) if update_cert else None,
        )
    except BuildError as e:
        click.echo(f"image build failed: {e}", err=True)
        sys.exit(1)
    progress(
        f"done: {Path(out) / manifest['image']}: {manifest['compressed_bytes'] / 1e6:.0f} MB"
        f" ({manifest['raw_bytes'] / 1e6:.0f} MB raw)"
    )
    figures = {k: manifest[k] for k in ("image", "app_version", "raw_bytes", "compressed_bytes")}
    figures.update(rootfs_cached=cached, build_seconds=round(time.monotonic() - started, 1))
    click.echo(json.dumps(figures))


@cli.command("bundle")
@click.option(
    "--image",
    type=click.Path(dir_okay=False, exists=True),
    help="The raw image whose root to bundle (default: the newest in build/).",
)
@click.option("--out", type=click.Path(dir_okay=False), help="Default: beside the image.")
@click.option("--version", help="Default: the image's /etc/keneya-release.")
@click.option("--development", is_flag=True,
              help="Sign with the repository's development key (tests only; a card for a"
                   " clinic refuses it).")  # fmt: skip
@click.option("--key", type=click.Path(dir_okay=False), help="Default: KENEYA_BUNDLE_KEY or"
              " /etc/keneya-district/bundle.key.pem")  # fmt: skip
@click.option("--cert", type=click.Path(dir_okay=False), help="Default: KENEYA_BUNDLE_CERT or"
              " /etc/keneya-district/bundle.cert.pem")  # fmt: skip
def bundle_command(image, out, version, development, key, cert) -> None:
    """Build a signed update bundle (.raucb) of the root an image has."""
    from image_build import bundle
    from image_build.build import DEV_CERT, DEV_KEY, BuildError

    if not image:
        raw = sorted(Path("build").glob("keneya-*-arm64.img"), key=lambda p: p.stat().st_mtime)
        image = raw[-1] if raw else None
    image = Path(image) if image else None
    if image is None:
        click.echo("no image in build/: run `make image` first, or give --image", err=True)
        sys.exit(1)
    if development:
        key, cert = key or DEV_KEY, cert or DEV_CERT
    key, cert = Path(key or bundle.PRODUCTION_KEY), Path(cert or bundle.PRODUCTION_CERT)
    if not key.is_file() or not cert.is_file():
        click.echo(
            f"no signing key at {key} (or certificate at {cert}): the district's key signs"
            " bundles (KENEYA_BUNDLE_KEY/KENEYA_BUNDLE_CERT), or --development for a test",
            err=True,
        )
        sys.exit(1)
    if not out:
        out = image.with_suffix(".raucb")
        if version:
            out = image.with_name(f"keneya-{version}-arm64.raucb")
    out = Path(out)
    from provisioning.card import CardError

    click.echo(f"bundle of {image}", err=True)
    try:
        facts = bundle.bundle_from_image(image, out, key=key, cert=cert, version=version)
    except (BuildError, CardError, OSError) as e:
        click.echo(f"bundle failed: {e}", err=True)
        sys.exit(1)
    click.echo(json.dumps(facts))


@cli.command("publish")
@click.option("--from", "old", type=click.Path(dir_okay=False, exists=True), required=True,
              help="The raw image of the version in the clinics.")  # fmt: skip
@click.option("--to", "new", type=click.Path(dir_okay=False, exists=True), required=True,
              help="The raw image of the new version.")  # fmt: skip
@click.option("--out", type=click.Path(file_okay=False), default="build/publish",
              show_default=True, help="The folder to put on the district's server (or on a"
              " stick, as keneya-update/).")  # fmt: skip
@click.option(
    "--bundle",
    "bundles",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True),
    help="The new version's .raucb, listed too (for sticks, or a generous budget).",
)
@click.option("--development", is_flag=True, help="Sign with the repository's development key.")
@click.option("--key", type=click.Path(dir_okay=False))
@click.option("--cert", type=click.Path(dir_okay=False))
def publish_command(old, new, out, bundles, development, key, cert) -> None:
    """The update folder for 3G: the delta between two images' roots and its signed index."""
    from image_build import bundle
    from image_build.build import DEV_CERT, DEV_KEY, BuildError
    from provisioning.card import CardError
    from provisioning.delta import DeltaError

    if development:
        key, cert = key or DEV_KEY, cert or DEV_CERT
    key, cert = Path(key or bundle.PRODUCTION_KEY), Path(cert or bundle.PRODUCTION_CERT)
    if not key.is_file() or not cert.is_file():
        click.echo(f"no signing key at {key} (or certificate at {cert})", err=True)
        sys.exit(1)
    if os.geteuid() != 0:
        click.echo("publish reads the roots with their owners: run it as root", err=True)
        sys.exit(1)
    try:
        facts = bundle.publish(Path(old), Path(new), Path(out), key=key, cert=cert,
                               bundles=tuple(Path(b) for b in bundles))  # fmt: skip
    except (BuildError, CardError, DeltaError, OSError) as e:
        click.echo(f"publish failed: {e}", err=True)
        sys.exit(1)
    click.echo(json.dumps(facts))


@cli.command(
    "test",
    context_settings={"ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def test_command(args: tuple[str, ...]) -> None:
    """Boot-test an image under qemu (options: python -m image_build test --help)."""
    from image_build.boottest import main

    sys.exit(main(list(args)))


if __name__ == "__main__":
    cli()
