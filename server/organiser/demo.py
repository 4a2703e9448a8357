"""The demo event's target picture, drawn by the project itself (no third-party image)."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw


def draw_target(size: int = 512) -> Image.Image:
    """A friendly yellow duck on a pond under a blue sky, with a white swan behind it."""
    img = Image.new("RGB", (size, size))
    draw = ImageDraw.Draw(img)
    s = size / 512
    for y in range(size):  # sky fading to pale at the horizon, then the pond
        t = y / size
        colour = (
            (110 + int(100 * t), 170 + int(60 * t), 235)
            if t < 0.62
            else (40, 120 + int(60 * (1 - t)), 170)
        )
        draw.line([(0, y), (size, y)], fill=colour)

    def box(x0: float, y0: float, x1: float, y1: float) -> tuple[float, float, float, float]:
        return (x0 * s, y0 * s, x1 * s, y1 * s)

    draw.ellipse(box(380, 40, 470, 130), fill=(255, 224, 110))  # sun
    # swan, behind: body, long neck, head, orange beak
    draw.ellipse(box(300, 250, 470, 340), fill=(250, 250, 250))
    draw.line(
        [(330 * s, 280 * s), (315 * s, 190 * s), (335 * s, 160 * s)],
        fill=(250, 250, 250),
        width=int(22 * s),
    )
    draw.ellipse(box(318, 140, 362, 180), fill=(250, 250, 250))
    draw.polygon([(358 * s, 155 * s), (392 * s, 165 * s), (358 * s, 172 * s)], fill=(240, 120, 30))
    draw.ellipse(box(336, 150, 346, 160), fill=(20, 20, 20))
    # duck, in front: body, head, beak, eye, wing
    draw.ellipse(box(70, 290, 300, 420), fill=(255, 205, 40))
    draw.ellipse(box(200, 200, 310, 310), fill=(255, 205, 40))
    draw.polygon([(300 * s, 245 * s), (360 * s, 262 * s), (300 * s, 280 * s)], fill=(245, 130, 20))
    draw.ellipse(box(262, 230, 282, 250), fill=(25, 25, 25))
    draw.ellipse(box(268, 234, 274, 240), fill=(255, 255, 255))
    draw.chord(box(110, 310, 240, 390), 200, 340, fill=(240, 180, 20))
    # ripples
    for x0, y0 in ((40, 440), (260, 460), (380, 400)):
        draw.arc(box(x0, y0, x0 + 120, y0 + 24), 200, 340, fill=(200, 230, 250), width=int(3 * s))
    return img


def target_webp(size: int = 512) -> bytes:
    buffer = io.BytesIO()
    draw_target(size).save(buffer, format="WEBP", quality=92)
    return buffer.getvalue()
