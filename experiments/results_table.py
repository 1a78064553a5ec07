"""Write the Results table of docs/results.md from reports: each experiment's verdict and spread, one column a report.

    python experiments/results_table.py --report "base seed 0=runs0/report/report.md" \\
        --report "base seed 1000=runs1000/report/report.md" --write docs/results.md
"""

from pathlib import Path

from hw1.cli.flags import OneLineErrorParser, run_cli
from hw1.reporting.results_table import results_table, write_into
from hw1.runs.errors import UsageError


def labelled_report(text: str) -> tuple[str, Path]:
    label, _, path = text.rpartition("=")
    if not label or not Path(path).is_file():
        raise UsageError(f"--report {text!r}: give LABEL=PATH of a report.md run_all.py wrote, e.g. 'base seed 0="
                         "lightning_logs/report/report.md'")  # fmt: skip
    return label, Path(path)


def main(argv: list[str] | None = None) -> str:
    parser = OneLineErrorParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", action="append", required=True, metavar="LABEL=PATH",
                        help="a column: its label and a report.md (repeat for more columns)")  # fmt: skip
    parser.add_argument("--write", metavar="DOCUMENT", help="replace the results block of this Markdown file (default: "
                        "print the table)")  # fmt: skip
    args = parser.parse_args(argv)
    table = results_table([labelled_report(text) for text in args.report])
    if args.write:
        write_into(Path(args.write), table)
        print(f"results table written into {args.write}")
    else:
        print(table, end="")
    return table


if __name__ == "__main__":
    run_cli(main)
