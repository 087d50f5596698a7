"""READMEs inside the package (plugins/, core/) ship in the wheel: they link to URLs or
to files the package holds, never to docs/ or examples/, which an install lacks. (The
packaging test checks the built wheel; this one says it at once, on the tree.)"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\s*\(([^)\s]+)\)")


def test_packaged_readmes_link_only_to_urls_or_packaged_files() -> None:
    readmes = [*(ROOT / "plugins").rglob("*.md"), *(ROOT / "core").rglob("*.md")]
    assert readmes
    broken = []
    for readme in readmes:
        for target in LINK.findall(readme.read_text(encoding="utf-8")):
            if re.match(r"(https?:|mailto:|#)", target):
                continue
            resolved = (readme.parent / target.split("#")[0]).resolve()
            inside = resolved.is_relative_to(ROOT / "plugins") or resolved.is_relative_to(
                ROOT / "core"
            )
            if not inside or not resolved.exists():
                broken.append(f"{readme.relative_to(ROOT)}: {target}")
    assert not broken, (
        f"link to https://github.com/wattbridge/wattbridge/blob/main/<path> instead: {broken}"
    )
