"""Run every experiment in order with one profile, then build a report (report/index.html and report/report.md).

    python experiments/run_all.py --profile quick        # the whole suite on 2 CPU cores
    python experiments/run_all.py --profile full --accelerator gpu
    python experiments/run_all.py --report-only          # the report again from the summaries on disk
"""

import time
from functools import partial
from pathlib import Path

from experiments.suite import SUITE
from hw1.cli.experiment import Experiment
from hw1.cli.flags import OneLineErrorParser, add_options, run_cli
from hw1.reporting.report import write_report
from hw1.runs.console import CONSOLE
from hw1.runs.errors import UsageError
from hw1.runs.results import latest_finished, latest_unfinished, read_summary
from hw1.runs.settings import PROFILES, RUN_OPTIONS, SWEEP_OPTIONS, flag_of

RECORDS = {record.name: record for record in SUITE}
EXPERIMENTS = tuple(RECORDS)


def finished(out_dir: Path, experiment: str, profile: str) -> bool:
    """An experiment has finished when its latest finished result folder was made with the same profile."""
    latest = latest_finished(out_dir, experiment)
    return latest is not None and read_summary(latest)["settings"].get("profile") == profile


def experiment_record(name: str) -> Experiment:
    """The suite's experiment `name`."""
    return RECORDS[name]


def main(argv: list[str] | None = None) -> dict:
    parser = OneLineErrorParser(description=__doc__.splitlines()[0] + " Every shared flag given is passed on to each"
                                " experiment that takes it; the others keep their profile's defaults.")  # fmt: skip
    parser.add_argument("--only", nargs="+", choices=EXPERIMENTS, help="run only these experiments (default: all)")
    add_options(parser, [option for option in RUN_OPTIONS if option.dest not in ("profile", "resume", *SWEEP_OPTIONS)])
    parser.add_argument("--profile", choices=PROFILES, help="profile of every experiment (default: quick)")
    parser.add_argument("--resume", action="store_true", help="skip the experiments that finished with this profile and"
                        " continue the one in progress")  # fmt: skip
    parser.add_argument("--report-only", action="store_true", help="train nothing: rebuild the report from the latest"
                        " finished summary.json of each experiment in --out-dir (e.g. after editing one)")  # fmt: skip
    args = vars(parser.parse_args(argv))
    out_dir = Path(args["out_dir"] or "lightning_logs")
    kept = ("profile", "resume", "out_dir", *SWEEP_OPTIONS)
    given = {option.dest: args[option.dest] for option in RUN_OPTIONS
             if option.dest not in kept and args[option.dest] is not None}  # fmt: skip
    chosen = [e for e in EXPERIMENTS if not args["only"] or e in args["only"]]
    if args["report_only"]:
        training = [flag_of(dest) for dest in (*given, *(d for d in ("profile", "resume") if args[d])) if dest != "verbose"]
        if training:
            parser.error(f"--report-only trains nothing; leave out {', '.join(training)}")
        return report_only(out_dir, chosen)
    args["profile"] = args["profile"] or "quick"
    CONSOLE.configure(bool(args["verbose"]))
    CONSOLE.in_suite = True
    try:
        ran, skipped, seconds = run_suite(chosen, args, given, out_dir)
    finally:
        CONSOLE.in_suite = False
        CONSOLE.close_bar()
    total = clock(seconds)
    markdown, page = write_report(out_dir, [RECORDS[e] for e in chosen], f"Homework 1 report ({args['profile']} profile)",
                                  f"{total} ({len(ran)} experiments trained, {len(skipped)} skipped as finished)")
    print(f"all {len(chosen)} experiments done in {total} ({len(skipped)} skipped as finished)\nreport: {page}\n"
          f"        {markdown}\nTensorBoard: tensorboard --logdir {out_dir}")  # fmt: skip
    if not chosen:
        raise UsageError("no experiment chosen")
    return {"ran": ran, "skipped": skipped, "report": page, "markdown": markdown}


def clock(seconds: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(seconds))


def run_suite(chosen: list[str], args: dict, given: dict, out_dir: Path) -> tuple[list[str], list[str], float]:
    """Each chosen experiment in turn, under one header line each (and the suite's bar on a terminal); the
    experiments run, those skipped as finished (--resume), and the suite's wall seconds."""
    start = time.monotonic()
    ran, skipped = [], []
    bar = CONSOLE.suite_bar(len(chosen))
    for index, experiment in enumerate(chosen, 1):
        prefix = f"experiment {index}/{len(chosen)} {experiment}"
        elapsed = clock(time.monotonic() - start)
        if args["resume"] and finished(out_dir, experiment, args["profile"]):
            CONSOLE.say(f"[{prefix}: finished earlier, skipped, {elapsed} elapsed]")
            skipped.append(experiment)
        else:
            CONSOLE.say(f"[{prefix}, {elapsed} elapsed]")
            record = experiment_record(experiment)
            in_progress = args["resume"] and latest_unfinished(out_dir, experiment) is not None
            settings, left_out = record.settings_for({**given, "profile": args["profile"], "out_dir": str(out_dir),
                                                      "resume": True if in_progress else None})  # fmt: skip
            left_out.pop("resume", None)
            if left_out:
                CONSOLE.say(f"[{prefix}: takes no {', '.join(flag_of(d) for d in left_out)}; not passed on]")
            record.run(settings, partial(CONSOLE.run_started, experiment))
            ran.append(experiment)
        if bar is not None:
            bar.update(1)
    return ran, skipped, time.monotonic() - start


def report_only(out_dir: Path, chosen: list[str]) -> dict:
    """The report of the experiments' latest finished result folders, titled with the profiles they ran."""
    folders = [latest for experiment in chosen if (latest := latest_finished(out_dir, experiment)) is not None]
    if not folders:
        raise UsageError(f"no finished experiment in {out_dir}; run them first, or point --out-dir at their folder")
    profiles = sorted({str(read_summary(folder)["settings"].get("profile")) for folder in folders})
    markdown, page = write_report(out_dir, [RECORDS[e] for e in chosen], f"Homework 1 report ({', '.join(profiles)} profile)")
    print(f"report of {len(folders)} finished experiments (of {len(chosen)}), nothing trained: {page}\n        {markdown}")
    return {"ran": [], "skipped": [], "report": page, "markdown": markdown}


if __name__ == "__main__":
    run_cli(main)
