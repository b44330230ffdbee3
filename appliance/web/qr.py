"""The QR code that joins the hotspot, for the web status page (inline SVG) and the kiosk
(PNG). One place, so both show the same symbol."""

from __future__ import annotations

import io

import segno


def _qr(payload: str) -> segno.QRCode:
    if not payload:
        raise ValueError("QR code: nothing to encode")
    # Error correction M (15 %): survives a smudged screen, still a small symbol.
    return segno.make(payload, error="m", micro=False)


def qr_svg(payload: str, *, title: str = "QR code Wi-Fi") -> str:
    """Inline SVG for an HTML page: no XML declaration, a <title> for screen readers (segno
    escapes it), a viewBox without width/height so CSS sets its size, presentation attributes
    only, as the CSP wants."""
    # A white quiet zone: a dark page theme must not swallow the symbol's border.
    return _qr(payload).svg_inline(scale=1, border=4, title=title, omitsize=True, light="#fff")


def qr_png(payload: str, *, scale: int = 8) -> bytes:
    """PNG bytes for the kiosk's screen (Kivy's CoreImage reads them from memory)."""
    if not 1 <= scale <= 64:
        raise ValueError(f"QR code scale {scale}: choose 1 to 64")
    out = io.BytesIO()
    _qr(payload).save(out, kind="png", scale=scale, border=4)
    return out.getvalue()
