"""``python -m trainables NAME [--set key=value ...]``: train one model and print its metrics.

NAME is a built-in's name or, for your own, ``module:function`` (a decorated function or
a plain Ray Tune function, which runs without Ray: its ray.tune.report is captured)."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from . import (
    REGISTRY,
    InvalidConfig,
    check_plugins,
    config_help,
    gather_assignments,
    get,
    parse_assignments,
)


def _format(metrics: dict[str, Any]) -> str:
    parts = []
    for key, value in metrics.items():
        parts.append(f"{key}={value:.6g}" if isinstance(value, float) else f"{key}={value}")
    return " ".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m trainables", description="Train one of the seed's models without Ray."
    )
    parser.add_argument(
        "name", nargs="?", help=f"one of: {', '.join(REGISTRY)}; or module:function"
    )
    parser.add_argument(
        "--set",
        dest="sets",
        action="append",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="config values, e.g. --set lr=0.1 epochs=3 (repeatable)",
    )
    parser.add_argument("--keys", action="store_true", help="list the config keys of NAME")
    args = parser.parse_args(argv)
    args.sets, args.name = gather_assignments(args.sets, args.name)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    try:
        check_plugins()
    except InvalidConfig as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.name is None:
        for name, info in REGISTRY.items():
            print(f"{name:16} {info.summary}")
        return 0
    try:
        info = get(args.name)
        if args.keys and info.open_config:
            print(
                f"{info.name} declares no config keys (a plain Ray Tune function): "
                "--set passes any key to it as it is"
            )
            return 0
        if args.keys:
            for row in config_help(args.name):
                print(
                    f"{row['key']:20} {row['type']:18} "
                    f"default={row['default']!r:14} {row['allowed']}"
                )
            return 0
        final = info.fn(parse_assignments(args.sets), lambda m: print(_format(m), flush=True))
    except InvalidConfig as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"final: {_format(final)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
