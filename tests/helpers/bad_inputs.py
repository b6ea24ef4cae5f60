"""Bad inputs that several test files plant."""

from __future__ import annotations


def alias_bomb() -> list[str]:
    """A 430-byte YAML "billion laughs": nine levels of ten aliases, 10^9 values once
    expanded (the lines of the document)."""
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for prev, cur in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 10) + "]")
    return lines
