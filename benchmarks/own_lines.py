"""Benchmark 13: the lines it takes to bring your own model, in each form.

The README's digits examples ("Your own trainables"), as the tests run them, are
counted here: non-blank, non-comment lines. The *shared loop* is every line the
decorator form and the plain Ray Tune form have in common (the imports of torch and
scikit-learn, the data, the model, the epoch loop); each form's count is what it
adds beyond that, Python plus the YAML spec that runs it. The plain Ray Tune form
runs under ``study`` with its file unchanged, so its "changed" count is a diff
against the Ray program itself (0 by construction: it is the same file), and its
own count is the Ray Tune program's: ``train_fn`` plus the Tuner that runs it.

    python benchmarks/own_lines.py
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "helpers"))

from readme_examples import examples


def lines(text: str) -> list[str]:
    """Non-blank, non-comment lines, stripped."""
    out = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            out.append(stripped)
    return out


def beyond(text: str, shared: Counter[str]) -> int:
    """Lines of ``text`` not in the shared multiset."""
    extra = Counter(lines(text)) - shared
    return sum(extra.values())


def main() -> None:
    ex = examples()
    shared = Counter(lines(ex["my_digits.py"])) & Counter(lines(ex["ray_digits.py"]))
    rows = [
        ("@trainable", beyond(ex["my_digits.py"], shared), len(lines(ex["digits.yaml"]))),
        ("plain Ray Tune (train_fn + Tuner)", beyond(ex["ray_digits.py"], shared), 0),
        (
            "plain Ray Tune under study (+ spec)",
            0,
            len(lines(ex["ray_digits.yaml"])),
        ),
        (
            "full (dataclass, checkpoints)",
            beyond(ex["my_digits_full.py"], shared),
            len(lines(ex["digits_full.yaml"])),
        ),
    ]
    print(f"shared loop: {sum(shared.values())} lines")
    print(f"{'form':38} {'python':>6} {'yaml':>5} {'total':>6}")
    for name, python, yaml in rows:
        print(f"{name:38} {python:6d} {yaml:5d} {python + yaml:6d}")


if __name__ == "__main__":
    main()
