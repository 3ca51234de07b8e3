"""The CJK font the report embeds, from Debian's packages (fonts-wqy-microhei or -zenhei).

TrueType outlines only: reportlab embeds TrueType, not the CFF outlines of Noto CJK.
"""

from __future__ import annotations

from pathlib import Path

from ingest.kernel.errors import PlantwatchError

# (path, index of the face inside a .ttc collection); first found wins.
CJK_FONTS = (
    (Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"), 0),
    (Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"), 0),
)


class FontMissing(PlantwatchError):
    """No CJK font is installed: `make deps` installs fonts-wqy-microhei."""


def cjk_font() -> tuple[Path, int]:
    for path, index in CJK_FONTS:
        if path.exists():
            return path, index
    raise FontMissing(
        "no CJK font found (install Debian's fonts-wqy-microhei): "
        + ", ".join(str(p) for p, _ in CJK_FONTS)
    )


def cjk_font_path() -> Path:
    return cjk_font()[0]
