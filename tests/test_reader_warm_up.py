"""The login page's warm-up names frontend chunks that the installed Streamlit serves."""

from __future__ import annotations

import re
from pathlib import Path

import streamlit as st

from ui.components import reader

STATIC_JS = Path(st.__file__).parent / "static" / "static" / "js"


def test_every_annotate_chunk_is_found() -> None:
    """A Streamlit upgrade that renames a chunk would silently drop its head start."""
    files = reader.frontend_chunks()
    assert len(files) == len(reader.ANNOTATE_CHUNKS)
    for name, file in zip(reader.ANNOTATE_CHUNKS, files, strict=True):
        assert re.fullmatch(re.escape(name) + r"\.[\w-]+\.js", file), (name, file)
        assert (STATIC_JS / file).is_file()


def test_a_missing_or_ambiguous_name_is_left_out() -> None:
    assert reader.frontend_chunks(("NoSuchElement",)) == []
    # "ProgressBar.*.js" has two files in Streamlit 1.67: neither is a guess worth making
    two = [n for n in ("ProgressBar",) if len(list(STATIC_JS.glob(f"{n}.*.js"))) > 1]
    assert reader.frontend_chunks(tuple(two)) == []


def test_fonts_name_families_the_frontend_declares() -> None:
    css = "".join(p.read_text(encoding="utf-8") for p in (STATIC_JS.parent / "css").glob("*.css"))
    for font in reader.ANNOTATE_FONTS:
        family = re.search(r'"([^"]+)"', font)
        assert family and f"font-family:{family.group(1)}" in css, font
