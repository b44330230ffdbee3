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
def build_command(out: str, cache: str, work: str, no_raw: bool) -> None:
    """Build build/keneya-<version>-arm64.img.xz, its .sha256 and its manifest."""
    from image_build.build import BuildError, build, progress, rootfs_tar

    started = time.monotonic()
    cached = rootfs_tar(Path(cache)).exists()
    try:
        manifest = build(Path(out), Path(cache), Path(work), keep_raw=not no_raw)
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
