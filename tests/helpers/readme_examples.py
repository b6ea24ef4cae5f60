"""The README's runnable examples: each fenced block preceded by ``<!-- file: NAME -->``,
so that the tests run them as a reader copies them."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
_BLOCK = re.compile(r"<!-- file: ([\w.-]+) -->\n```\w*\n(.*?)\n```", re.S)


def examples() -> dict[str, str]:
    """File name -> text of every example file in the README."""
    found = {name: text + "\n" for name, text in _BLOCK.findall(README.read_text())}
    assert found, "no <!-- file: --> examples in README.md"
    return found


def write_examples(folder: Path) -> dict[str, str]:
    """Write every example into ``folder``; the examples."""
    found = examples()
    for name, text in found.items():
        (folder / name).write_text(text)
    return found
