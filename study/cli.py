"""The ``study`` command: run, resume and list studies. Errors are one line, exit code 2."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shlex
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from study.errors import (
    DISK_FULL_ERRNOS,
    DiskFull,
    Interrupted,
    NothingTrained,
    NotUploaded,
    StudiesFailed,
    StudyError,
)

# Only light modules above: the heavy ones (pandas, Ray, torch through a plugin) load
# inside main's try, so a Ctrl-C while they load is caught like any other.

log = logging.getLogger("study")
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
# The run failed (exit 1), as against bad input (exit 2).
RUN_FAILED = (NothingTrained, StudiesFailed, DiskFull, NotUploaded)
EXIT_FAILURE = 1


def one_line(text: object) -> str:
    """``text`` on one line: newlines and other unprintable characters (a key named
    "\\n" in a spec, say) are shown escaped, so an error is always exactly one line."""
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in str(text)
    )


class _Printable(logging.Formatter):
    """Log lines with unprintable characters escaped (a trial folder named with a
    terminal escape sequence, say, is shown, not obeyed); a --debug traceback keeps
    its lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return one_line(super().formatMessage(record))


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit 2), as for every other bad input."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"error: {self.prog}: {one_line(message)}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="study",
        description="Hyperparameter studies of the seed's PyTorch models with Ray Tune and Optuna.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and Ray's logs")
    commands = parser.add_subparsers(dest="command", parser_class=_Parser)
    for add in (_add_run, _add_resume, _add_analyze, _add_compare, _add_dashboard, _add_sync):
        add(commands)
    commands.add_parser("presets", help="list the presets shipped with study")
    for sub in commands.choices.values():  # --debug after the command works too
        sub.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
        )
    return parser


def _add_run(commands: Any) -> None:
    run = commands.add_parser("run", help="run a study from a YAML spec or a preset")
    run.add_argument(
        "spec",
        metavar="SPEC_OR_PRESET",
        nargs="?",  # required; checked after --set, which may have taken it (see _run)
        help="a spec file, or a name from 'study presets'",
    )
    run.add_argument("--name", help="experiment folder name (default: the spec's name)")
    run.add_argument(
        "--storage",
        default="studies",
        help="where experiments go: a folder (default: ./studies), or a storage URI "
        "(s3://BUCKET/PREFIX, gs://BUCKET/PREFIX, file:///PATH) mirrored as the study runs",
    )
    run.add_argument("--num-samples", type=int, help="trials to sample (grid: repeats of the grid)")
    run.add_argument(
        "--set",
        dest="sets",
        action="append",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="fix trainable config keys (lr=0.1), or set spec keys (num_samples=3, "
        "scheduler.max_t=5); several after one --set, or repeated; values are YAML",
    )
    run.add_argument(
        "--address",
        help="join a Ray cluster: auto, HOST:PORT or ray://HOST:PORT "
        "(default: $RAY_ADDRESS if set, as in a Ray Job; else a private local Ray)",
    )
    run.add_argument("--gpus-per-trial", type=float, help="GPU share per trial, e.g. 0.25")
    run.add_argument("--no-report", action="store_true", help="skip the report at the end")


def _add_resume(commands: Any) -> None:
    resume = commands.add_parser(
        "resume",
        help="continue an interrupted study",
        description="Continue an interrupted study. Resuming unpickles Ray's saved state in "
        "the folder (tuner.pkl, the searcher's state), which can run code: resume only "
        "folders you wrote. A folder owned by another user, or writable by anyone, is refused.",
    )
    resume.add_argument("experiment", metavar="EXPERIMENT_DIR_OR_URI")
    resume.add_argument(
        "--address",
        help="join this Ray cluster (default: $RAY_ADDRESS if set; else a private local Ray)",
    )
    resume.add_argument("--no-report", action="store_true", help="skip the report at the end")


def _add_analyze(commands: Any) -> None:
    analyze = commands.add_parser("analyze", help="write the report of an experiment folder")
    analyze.add_argument(
        "experiment",
        metavar="EXPERIMENT_DIR_OR_URI",
        help="a study folder (or a suite folder: one report per study), or its storage URI",
    )
    analyze.add_argument(
        "--out", help="report folder (default: EXPERIMENT_DIR/report; for a URI, URI/report)"
    )
    analyze.add_argument("--format", default="both", choices=("html", "md", "both"))


def _add_compare(commands: Any) -> None:
    compare = commands.add_parser("compare", help="compare several experiment folders")
    compare.add_argument("experiments", nargs="+", metavar="EXPERIMENT_DIR_OR_URI")
    compare.add_argument(
        "--out", default="comparison", help="report folder (default: ./comparison)"
    )
    compare.add_argument("--format", default="both", choices=("html", "md", "both"))


def _add_dashboard(commands: Any) -> None:
    dashboard = commands.add_parser(
        "dashboard",
        help="watch an Optuna-searched study in optuna-dashboard (127.0.0.1 only)",
        description="Serve optuna-dashboard on the study's optuna.journal, live while it "
        "runs, on 127.0.0.1 only. Needs the extra: pip install 'study-harness[dashboard]'.",
    )
    dashboard.add_argument(
        "experiment",
        metavar="EXPERIMENT_DIR_OR_URI",
        help="a study folder (live), or its storage URI (the journal as uploaded)",
    )
    dashboard.add_argument("--port", type=int, default=8080, help="default: 8080")


def _add_sync(commands: Any) -> None:
    sync = commands.add_parser(
        "sync",
        help="upload a working folder to the storage URI its study was run with",
        description="Upload what a storage outage left in a study's local working folder "
        "(the path 'study run --storage URI' printed) to its URI.",
    )
    sync.add_argument("experiment", metavar="EXPERIMENT_DIR")


def _setup_logging(debug: bool) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_Printable("%(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    logging.getLogger("study").setLevel(logging.DEBUG if debug else logging.INFO)
    if not debug:
        for noisy in ("ray", "optuna"):
            logging.getLogger(noisy).setLevel(logging.CRITICAL)


def _run(args: argparse.Namespace) -> int:
    from study.run.resume import stored_uri
    from study.run.start import run_study
    from trainables import gather_assignments, parse_assignments

    args.sets, args.spec = gather_assignments(args.sets, args.spec)
    if args.spec is None:
        raise StudyError("study run: give a spec file or a preset (study presets lists them)")

    folder = run_study(
        args.spec,
        name=args.name,
        storage=args.storage,
        num_samples=args.num_samples,
        set=parse_assignments(args.sets),
        address=args.address,
        gpus_per_trial=args.gpus_per_trial,
        report=not args.no_report,
    )
    print(stored_uri(folder) or folder)  # with a storage URI, where the results are kept
    return 0


def _resume(args: argparse.Namespace) -> int:
    from study.run.resume import resume_study, stored_uri

    folder = resume_study(args.experiment, address=args.address, report=not args.no_report)
    print(stored_uri(folder) or folder)
    return 0


def _study_folders(folder: Path) -> list[Path]:
    """A study folder, or the studies of a suite folder (its real sub-folders only:
    a link in an untrusted folder is not followed)."""
    from analysis.files import subfolders
    from experiment_folder import SPEC_FILE, SUITE_FILE

    if (folder / SPEC_FILE).is_file() or not (folder / SUITE_FILE).is_file():
        return [folder]
    return [p for p in subfolders(folder) if os.path.lexists(p / SPEC_FILE)]


@contextlib.contextmanager
def _local(experiment: str) -> Iterator[Path]:
    """A study folder, or a fresh local copy of what a storage URI holds (Ray's
    checkpoints left out), removed afterwards."""
    from study import storage

    if not storage.is_uri(experiment):
        yield Path(experiment)
        return
    folder, _ = storage.snapshot(experiment)
    try:
        yield folder
    finally:
        storage.discard(folder)


def _analyze(args: argparse.Namespace) -> int:
    import analysis
    from study import storage

    with _local(args.experiment) as copy:
        folders = _study_folders(copy)
        written: dict[str, Path] = {}
        for folder in folders:
            out = Path(args.out) / folder.name if args.out and len(folders) > 1 else args.out
            report = analysis.write_report(analysis.load(folder), out, args.format)
            written[folder.name] = report / "index.html"
            shown = report / ("report.md" if args.format == "md" else "index.html")
            if out is None and storage.is_uri(args.experiment):  # the report goes up there
                remote = storage.resolve(args.experiment)
                if folder != copy:
                    remote = remote.child(folder.name)
                print(storage.upload_report(report, remote, shown.name))
            else:
                print(shown)
        if analysis.is_course(copy):
            print(_course_page(copy, args, written))
    return 0


def _course_page(suite: Path, args: argparse.Namespace, reports: dict[str, Path]) -> str:
    """A course suite's page, linking its studies' reports where they were just written
    (``--out``: the page goes there too); the place it was written, or its URI where
    the suite is in storage."""
    import analysis
    from study import storage

    out = Path(args.out) / "course" if args.out else None
    page = analysis.write_course(suite, out, args.format, reports)
    shown = page / ("course.md" if args.format == "md" else "index.html")
    if args.out is None and storage.is_uri(args.experiment):
        return storage.upload_report(page, storage.resolve(args.experiment), shown.name)
    return str(shown)


def _compare(args: argparse.Namespace) -> int:
    import analysis

    with contextlib.ExitStack() as stack:
        # A suite folder (as 'study run' prints it) stands for its studies.
        copies = [stack.enter_context(_local(e)) for e in args.experiments]
        folders = [f for copy in copies for f in _study_folders(copy)]
        out = analysis.write_comparison(folders, args.out, args.format)
    print(out / ("report.md" if args.format == "md" else "index.html"))
    return 0


def _dashboard(args: argparse.Namespace) -> int:
    from study.dashboard import serve

    with _local(args.experiment) as folder:
        serve(folder, args.port)
    return 0


def _sync(args: argparse.Namespace) -> int:
    from study.run.resume import sync_study

    print(sync_study(args.experiment))
    return 0


def _presets(args: argparse.Namespace) -> int:
    from study.specs import presets

    for name, description in presets.describe():
        print(f"{name:15} {description}")
    return 0


COMMANDS: dict[str, Any] = {
    "run": _run,
    "resume": _resume,
    "presets": _presets,
    "analyze": _analyze,
    "compare": _compare,
    "dashboard": _dashboard,
    "sync": _sync,
}


def _usage_errors() -> tuple[type[BaseException], ...]:
    """The error classes that mean bad input (exit 2): each package's own. trainables'
    and analysis' are there once their package was imported (neither can have raised
    otherwise); they are not imported up front, which costs a second (pandas,
    matplotlib) before main can catch a Ctrl-C."""
    found: list[type[BaseException]] = [StudyError]
    for module, name in (("trainables", "InvalidConfig"), ("analysis.errors", "AnalysisError")):
        loaded = sys.modules.get(module)
        if loaded is not None:
            found.append(getattr(loaded, name))
    return tuple(found)


def _interrupted(args: argparse.Namespace) -> str:
    """The line after a Ctrl-C: where a run stood, or what a report command left."""
    if args.command in ("run", "resume"):
        from study.interrupts import hint

        return hint()
    if args.command in ("analyze", "compare"):
        again = shlex.join(["study", args.command, *_arguments(args)])
        return (
            "interrupted; a report is replaced whole or not at all, and the experiment "
            f"folders are unchanged; write it with: {again}"
        )
    return "interrupted"


def _arguments(args: argparse.Namespace) -> list[str]:
    folders = [args.experiment] if args.command == "analyze" else list(args.experiments)
    return [*folders, *(["--out", str(args.out)] if args.out else [])]


def main(argv: Sequence[str] | None = None) -> int:
    """``study ARGV``: the exit status. A Ctrl-C is seen even where an import swallowed
    its KeyboardInterrupt (interrupts.sigint_guard)."""
    from study import interrupts

    with interrupts.sigint_guard():
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:  # 'study' alone: what it can do
        parser.print_help()
        return 0
    _setup_logging(args.debug)
    try:
        import trainables

        trainables.check_plugins()
        from study.interrupts import raise_if_swallowed

        raise_if_swallowed()  # a Ctrl-C while the packages above loaded
        return int(COMMANDS[args.command](args))
    except Interrupted as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except RUN_FAILED as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return EXIT_FAILURE
    except _usage_errors() as exc:
        if args.debug:
            raise
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # outside Ray Tune's own handling: say where the run stood
        print(one_line(_interrupted(args)), file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug: one line, with the way to the traceback
        if args.debug:
            raise
        if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
            from study.interrupts import RUN

            full = DiskFull(exc.filename or "the results", RUN.suite or RUN.folder)
            print(f"error: {one_line(full)}", file=sys.stderr)
            return EXIT_FAILURE
        print(
            f"error: unexpected {type(exc).__name__}: {one_line(exc)}; "
            "rerun with --debug for the traceback",
            file=sys.stderr,
        )
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
