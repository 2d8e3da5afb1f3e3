"""``fargate-sim run | compare | plot | bench``: the benchmark harness on the command line.

Thin: parse, call ``simulator.bench``, print.  Imports are deferred to the handlers so the
rest of the CLI starts fast.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from simulator.bench.spec import ExperimentSpec

#: Users' runs; the committed references are under results/reference (simulator.bench.store).
USER_ROOT = "results/local"
REFERENCE_ROOT = "results/reference"
#: The engine names a spec or --engine may use (simulator.bench.datapath.ENGINE_NAMES).
ENGINE_NAMES = ("native-ipp", "native-openssl", "cryptography", "native", "auto")


def register(sub: Any) -> None:
    """Add the run, compare, plot and bench subcommands."""
    p = sub.add_parser(
        "run", help="run experiment specs (default: experiments/quick.toml)",
        description="Run experiments and write results/local/<experiment>/<UTC timestamp>/: "
                    "cells.jsonl (the record), the tidy table (CSV, Parquet), meta.json and "
                    "PNG plots; print a summary, the ranked comparison and a one-line answer. "
                    "Committed reference runs live apart, under results/reference/.")
    p.add_argument("specs", nargs="*", metavar="SPEC",
                   help="spec files or bare names under experiments/ (default: quick)")
    p.add_argument("--out", default=USER_ROOT, metavar="DIR",
                   help=f"results root (default: ./{USER_ROOT})")
    p.add_argument("--resume", metavar="DIR",
                   help="continue an interrupted run directory (skips completed cells)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar or log lines")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--allow-large", action="store_true",
                   help="run a grid of more than 10,000 cells")
    p.add_argument("--json", action="store_true",
                   help="print one JSON document (summary, ceilings, ranking, answer) instead")
    p.add_argument("--workers", type=_workers, metavar="N",
                   help="run the cells on a local Dask cluster of N worker processes "
                        "(pip install -e '.[distributed]')")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                   help="run the cells on the Dask cluster of this scheduler")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "compare", help="cipher configurations side by side; the change between runs",
        description="Rank the cipher configurations of each run; with two or more runs of the "
                    "same experiment, show each cell's change and whether it is within noise "
                    "(the IQRs overlap).")
    p.add_argument("dirs", nargs="+", metavar="DIR",
                   help="run directories (an experiment directory or name means its newest run)")
    p.add_argument("--where", action="append", default=[], metavar="KEY=VALUE",
                   help="keep only cells with this parameter value, e.g. engine=native-ipp "
                        "(repeatable; an unknown key or value is an error listing what exists)")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.add_argument("--by", metavar="COLUMN",
                   help="the same cells side by side for each value of COLUMN (e.g. host)")
    p.add_argument("--results", default=USER_ROOT, metavar="ROOT", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("plot", help="write a run's PNG plots",
                       description="Throughput vs sector and batch size per cipher, encrypt vs "
                                   "decrypt with the ceiling, thread scaling, capacity overhead.")
    p.add_argument("dir", metavar="DIR", help="run directory (or experiment name: newest run)")
    p.add_argument("--out", metavar="DIR", help="where to write the PNGs (default: DIR/plots)")
    p.add_argument("--results", default=USER_ROOT, metavar="ROOT", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("bench", help="the table `cryptsetup benchmark` prints, for our ciphers",
                       description="Encrypt and decrypt 1 MiB buffers sector by sector with each "
                                   "cipher configuration and print cryptsetup benchmark's table.")
    p.add_argument("--engine", default="auto", choices=ENGINE_NAMES)
    p.add_argument("--sector-size", type=int, default=4096, choices=(512, 1024, 2048, 4096))
    p.add_argument("--seconds", type=_positive_float, default=0.5,
                   help="time per direction (default 0.5)")
    p.add_argument("--threads", type=_threads, default=1, help="1 to 64 (default 1)")
    p.add_argument("--cipher", "-c", action="append", metavar="NAME[:BITS]",
                   help="only these configurations, e.g. aes-xts-plain64:512 (repeatable)")
    p.add_argument("--repeat", type=_repeat, default=5,
                   help="repetitions per figure, 2 to 100 (default 5); the spread is shown")
    p.add_argument("--json", action="store_true", help="print JSON instead of the table")
    p.set_defaults(func=cmd_bench)


def _repeat(text: str) -> int:
    """An argparse type: repetitions per figure, 2 to 100."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 2 <= value <= 100:
        raise argparse.ArgumentTypeError(f"{value} is out of range (2 to 100)")
    return value


def _positive_float(text: str) -> float:
    """An argparse type: a number of seconds > 0 (and not absurdly long)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"{text} is out of range (0 < seconds <= 3600)")
    return value


def _threads(text: str) -> int:
    """An argparse type: worker threads per engine call, 1 to 64 (the native pool's limit)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError(f"{value} is out of range (1 to 64)")
    return value


def _workers(text: str) -> int:
    """An argparse type: Dask worker processes, 1 to 256."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 1 <= value <= 256:
        raise argparse.ArgumentTypeError(f"{value} is out of range (1 to 256)")
    return value


def _err(msg: str, command: str = "run") -> None:
    """One error line in the style every ``fargate-sim`` command uses."""
    print(f"fargate-sim {command}: error: {msg}", file=sys.stderr)


def cmd_run(args: argparse.Namespace) -> int:
    """Run each spec in turn; print where the results are and the summary."""
    from simulator.bench import SpecError, load_spec, resolve_spec_path

    log = (lambda _m: None) if args.quiet else (lambda m: print(m, file=sys.stderr))
    try:
        if args.resume:
            if len(args.specs) > 1:
                _err("--resume takes at most one SPEC")
                return 2
            resume = Path(args.resume)
            spec = (load_spec(resolve_spec_path(args.specs[0])) if args.specs
                    else _resume_spec(resume))
            jobs: list[tuple[ExperimentSpec, Path | None]] = [(spec, resume)]
        else:
            jobs = [(load_spec(resolve_spec_path(s)), None) for s in (args.specs or ["quick"])]
    except SpecError as exc:
        _err(str(exc))
        return 2

    if getattr(args, "workers", None) or getattr(args, "scheduler", None):
        from simulator.bench.distributed import DaskExecutor, DistributedError, dask_client

        if args.workers and args.scheduler:
            _err("--workers starts a local cluster, --scheduler uses another: give one")
            return 2
        try:
            with dask_client(args.workers, args.scheduler) as client:
                return _run_jobs(args, jobs, log, DaskExecutor(client))
        except DistributedError as exc:
            _err(str(exc))
            return 2
    return _run_jobs(args, jobs, log, None)


def _run_jobs(args: argparse.Namespace, jobs: list[Any], log: Any, executor: Any) -> int:
    """Run each (spec, resume) job; print where the results are and the summary."""
    from simulator.bench import ResumeError, RunError, RunInterrupted, SpecError, run_experiment

    argv = ["fargate-sim", *sys.argv[1:]] if sys.argv else None
    docs = []
    for spec, resume in jobs:
        try:
            result = run_experiment(spec, out=args.out, resume=resume,
                                    quiet=args.quiet or args.json, plots=not args.no_plots,
                                    argv=argv, log=log, allow_large=args.allow_large,
                                    executor=executor)
        except (SpecError, RunError, ResumeError) as exc:
            _err(str(exc))
            return 2
        except RunInterrupted as exc:
            _err(str(exc))
            return 130 if isinstance(exc.cause, KeyboardInterrupt) else 1
        except OSError as exc:  # the results root itself cannot be written
            _err(f"cannot write the run directory under {args.out}: {exc.strerror or exc}"
                 f"{' (' + str(exc.filename) + ')' if exc.filename else ''}; nothing ran")
            return 2  # a --out that cannot be a directory is bad input (tests/test_cli_inputs)
        if args.json:
            docs.append(_run_json(result))
            continue
        _print_run(result)
    if args.json:
        import json

        print(json.dumps(docs[0] if len(docs) == 1 else docs, indent=2, default=str))
    return 0


def _print_run(result: Any) -> None:
    """What a finished run says: where, the summary, contention, the ranking, the answer."""
    from simulator.bench.compare import answer, cipher_table, format_cipher_table
    from simulator.bench.store import load_run

    spec = result.spec
    if result.already_complete:
        print(f"{spec.name}: {result.path} is already complete ({result.cells_total} cells); "
              "nothing to do, nothing written")
        return
    print(f"{spec.name}: {result.cells_run} cells run"
          + (f", {result.cells_skipped} resumed" if result.cells_skipped else "")
          + f" in {result.seconds:.1f} s -> {result.path}")
    verdict = (result.meta.get("reliability") or {}).get("verdict")
    if verdict:
        print(verdict)
    print(result.summary_text())
    if result.plots:
        print("plots: " + ", ".join(str(p.relative_to(result.path)) for p in result.plots))
    if spec.kind in ("throughput", "volume"):
        run = load_run(result.path)
        t = cipher_table(run)
        print("\nranked:")
        print(format_cipher_table(run, t))
        line = answer(run, t)
        if line:
            print("\nanswer: " + line)
    print()


def _run_json(result: Any) -> dict[str, Any]:
    """``run --json``: the run's path, status, summary, ceilings, ranking and answer."""
    import json

    from simulator.bench.compare import compare_json

    doc = compare_json([result.path])["runs"][0] if not result.summary.empty else {}
    # the grid's cells this machine could not run (an engine it lacks, a cipher an engine
    # does not run), with why, and the run's notes (what of the data path is missing)
    skipped = list(result.meta.get("skipped_cells") or [])
    reasons: dict[str, int] = {}
    for s in skipped:
        reasons[s.get("reason", "?")] = reasons.get(s.get("reason", "?"), 0) + 1
    doc.update(path=str(result.path), already_complete=result.already_complete,
               cells_total=result.cells_total, cells_run=result.cells_run,
               cells_resumed=0 if result.already_complete else result.cells_skipped,
               cells_skipped=len(skipped), skipped_reasons=reasons, skipped_cells=skipped,
               notes=list(result.meta.get("notes") or []),
               plots=[str(p) for p in result.plots],
               summary=json.loads(result.summary.to_json(orient="records"))
               if not result.summary.empty else [],
               clock=result.meta.get("clock"), contention=result.meta.get("contention"))
    return doc


def _resume_spec(run_dir: Path) -> ExperimentSpec:
    """The spec a run started with: its original file if unchanged, else the copy kept."""
    import json

    from simulator.bench import SpecError, load_spec

    meta_file = run_dir / "meta.json"
    if not meta_file.is_file():
        raise SpecError(run_dir, "--resume", "not a run directory (no meta.json)",
                        "a directory written by fargate-sim run")
    meta = json.loads(meta_file.read_text())
    original = meta.get("spec_path")
    if original and Path(original).is_file():
        spec = load_spec(original)
        if spec.hash == meta.get("spec_hash"):
            return spec
    return load_spec(run_dir / "spec.toml")


def _run_dir(arg: str, root: str) -> Path:
    """A run directory from an argument: a path, or an experiment name under the users'
    root (never silently the reference: that one is named results/reference/NAME)."""
    p = Path(arg)
    if p.exists():
        return p
    if (Path(root) / arg).exists():
        return Path(root) / arg
    ref = Path(REFERENCE_ROOT) / arg
    hint = f"; the reference run is {ref}" if ref.exists() else ""
    raise FileNotFoundError(f"{arg}: no such run directory (nor {Path(root) / arg}){hint}")


def _where(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--where {item!r}: expected KEY=VALUE")
        out[key.strip()] = value.strip()
    return out


def cmd_compare(args: argparse.Namespace) -> int:
    """Print the ranked cipher tables and the changes between runs."""
    from simulator.bench.compare import compare, compare_json

    try:
        dirs = [_run_dir(d, args.results) for d in args.dirs]
        if args.by:
            from simulator.bench import load_run
            from simulator.bench.distributed import compare_by

            print("".join(compare_by(load_run(d), args.by) for d in dirs), end="")
            return 0
        if args.json:
            import json

            print(json.dumps(compare_json(dirs, where=_where(args.where)), indent=2,
                             default=str))
        else:
            print(compare(dirs, where=_where(args.where)), end="")
    except (FileNotFoundError, ValueError) as exc:
        _err(str(exc), "compare")
        return 2
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    """Write the PNGs and list them."""
    from simulator.bench.plots import plot_run

    try:
        paths = plot_run(_run_dir(args.dir, args.results), out_dir=args.out)
    except FileNotFoundError as exc:
        _err(str(exc), "plot")
        return 2
    for p in paths:
        print(p)
    if not paths:
        _err("nothing to plot (no completed cells)", "plot")
        return 1
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """Print cryptsetup benchmark's table for our cipher configurations."""
    from simulator.bench.cryptsetup import CONFIGS, bench, format_table
    from simulator.bench.datapath import default_datapath
    from simulator.bench.spec import CIPHER_KEY_BITS

    configs: list[tuple[str, int]] = list(CONFIGS)
    if args.cipher:
        configs = []
        for c in args.cipher:
            name, _, bits = c.partition(":")
            if name not in CIPHER_KEY_BITS or name == "null":
                _err(f"--cipher {c}: unknown cipher (allowed: "
                     + ", ".join(k for k in CIPHER_KEY_BITS if k != "null") + ")", "bench")
                return 2
            try:
                kb = int(bits) if bits else CIPHER_KEY_BITS[name][0]
            except ValueError:
                kb = -1
            if kb not in CIPHER_KEY_BITS[name]:
                _err(f"--cipher {c}: {name} takes key bits "
                     + ", ".join(map(str, CIPHER_KEY_BITS[name])), "bench")
                return 2
            configs.append((name, kb))
    from simulator.bench.datapath import describe_engine

    dp = default_datapath()
    try:
        engine, notes = bench_engine(args.engine, dp)
    except ValueError as exc:  # a name that means nothing (argparse's choices catch most)
        _err(str(exc), "bench")
        return 2
    rows = bench(configs, engine=engine, sector_size=args.sector_size,
                 seconds=args.seconds, threads=args.threads, datapath=dp,
                 repetitions=args.repeat)
    # with the choices made; "engine" is what ran as asked ("auto"), not the selector's name
    d = describe_engine(dp.get_engine(engine), engine, dp.get_engine)
    # the backend each configuration ran on (auto/native choose per cipher)
    chosen = {f"{name}:{bits}": r.engine
              for (name, bits), r in zip(configs, rows, strict=True) if r.engine}
    note = (f"fargate-sim bench: {_engine_heading(d)}, 1 MiB buffers, "
            f"{args.sector_size}-byte sectors, {args.threads} thread(s), "
            f"{args.repeat} repetitions")
    if args.json:
        import json

        print(json.dumps({"engine": {**d, "chosen": chosen}, "engine_asked": args.engine,
                          "notes": notes,
                          "sector_size": args.sector_size, "threads": args.threads,
                          "repetitions": args.repeat,
                          "unit": "MiB/s (2^20 B/s); spread = IQR / median",
                          "rows": [r.to_dict() for r in rows]}, indent=2))
    else:
        print(format_table(rows, note, notes))
    return 0


def bench_engine(asked: str, dp: Any) -> tuple[str, list[str]]:
    """The engine ``bench`` runs for ``--engine asked`` and its notes, one line each.

    A missing or unloadable library is a note and a fallback, never an error (the data-path
    issue): a known engine this machine lacks (``native-ipp`` without IPP Crypto, any native
    one with the extension disabled) runs ``auto`` instead, each row naming the backend that
    ran it, under one line saying what is missing and why.  ``auto``/``native`` note what of
    the data path they run without.  Raises ValueError for a name that means nothing."""
    why = dp.check_engine(asked)
    missing = list(dp.notes())
    if why is None:
        return asked, missing if asked in ("auto", "native") else []
    if not dp.knows_engine(asked):
        raise ValueError(f"engine {asked!r}: {why}")
    fallback = dp.check_engine("auto")
    if fallback is not None:
        raise ValueError(f"engine {asked!r} is not available here ({_unprefixed(asked, why)})"
                         f" and neither is auto: {_unprefixed('auto', fallback)}")
    what = "; ".join(missing) or _unprefixed(asked, why)
    return "auto", [f"--engine {asked}: {what}; running auto instead (each row names the "
                    "backend that ran it)"]


def _unprefixed(name: str, why: str) -> str:
    """An engine's reason without a "NAME engine unavailable: " head (so a note beside
    "--engine NAME" says it once)."""
    head = f"{name} engine unavailable: "
    return why[len(head):] if why.startswith(head) else why


def _engine_heading(d: dict[str, str]) -> str:
    """The bench header's words for the engine asked: each library beside its own version
    (a selector's candidates paired, not its joined libraries then its joined versions)."""
    if d.get("backends"):  # auto/native: a backend per cipher, each row names its own
        return (f"engine {d['engine']} (per cipher the fastest of: {d['backends']}; each row "
                "names the backend it chose)")
    via = f" = {d['resolves_to']}" if d.get("resolves_to") else ""  # auto without natives
    return f"engine {d['engine']}{via} ({d.get('library', '?')} {d.get('version', '?')})"
