"""The `realorai` command.

realorai scan PATH... --out results.csv|results.jsonl [--model REF] [--workers N]
realorai report [MODEL]     a model's own report (metrics.json) as the Insights tab and the card show it
realorai report FOLDER --plots   redraw a local model folder's plots from its report (after a plotting change)
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="realorai", description="Real or AI? portrait detector")
    commands = parser.add_subparsers(dest="command", required=True)
    scan = commands.add_parser(
        "scan",
        help="judge every face in files, folders (recursive) or globs; one row per face",
        description="One row per face (file, face, box, p_ai, verdict, confidence; or the error for a bad file). "
        "Rerun with the same --out to resume: files already in it are skipped.",
    )
    scan.add_argument("inputs", nargs="+", metavar="PATH", help="picture, folder (scanned recursively) or glob")
    scan.add_argument("--out", required=True, help="results file, .csv or .jsonl (appended to; never next to the inputs)")
    scan.add_argument("--model", default=None, help="hf-hub:ORG/NAME or a local folder (default: the bundled model)")
    scan.add_argument("--workers", type=int, default=1, help="processes, each with its own copy of the model")
    scan.add_argument("--quiet", action="store_true", help="no progress bar")
    report = commands.add_parser(
        "report",
        help="print a model's report: leave-one-out, re-share, test tables (Markdown, as the Insights tab shows them)",
    )
    report.add_argument("model", nargs="?", default=None, help="hf-hub:ORG/NAME or a local folder (default: the bundled model)")
    report.add_argument(
        "--plots", action="store_true", help="redraw the local folder's plots from its metrics.json and test_predictions.json"
    )
    args = parser.parse_args(argv)
    if args.command == "report":
        return redraw_plots(args.model) if args.plots else print_report(args.model)

    from .scan import scan as run_scan

    try:
        summary = run_scan(args.inputs, args.out, args.model, args.workers, progress=not args.quiet)
    except (FileNotFoundError, ValueError) as err:
        print(f"realorai scan: {err}", file=sys.stderr)
        return 2
    print(
        f"{summary['scanned']} file(s) scanned, {summary['skipped']} already in {summary['out']} skipped, "
        f"{summary['rows']} row(s) written"
    )
    return 0


def print_report(reference: str | None) -> int:
    from .config import BUNDLED_MODEL_DIR
    from .insights import load_metrics, report_folder, results_markdown

    folder = report_folder(str(reference or BUNDLED_MODEL_DIR))
    metrics = load_metrics(folder)
    if metrics is None:
        where = reference or BUNDLED_MODEL_DIR
        print(f"realorai report: no metrics.json for {where} (a model folder, or an hf-hub id in the cache)", file=sys.stderr)
        return 2
    print(results_markdown(metrics, folder))
    return 0


def redraw_plots(reference: str | None) -> int:
    """The plots training draws, drawn again from the folder's own report: no evaluation is rerun."""
    from pathlib import Path

    from .config import BUNDLED_MODEL_DIR
    from .insights import load_metrics

    folder = Path(reference or BUNDLED_MODEL_DIR)
    metrics, predictions = load_metrics(folder), load_metrics(folder, "test_predictions.json")
    if metrics is None or predictions is None:
        print(f"realorai report --plots: {folder} lacks metrics.json or test_predictions.json", file=sys.stderr)
        return 2
    from .plots import write_plots

    for split, probabilities in predictions.items():
        metrics["splits"][split]["_probabilities"] = probabilities
    write_plots(metrics, folder)
    print(f"plots redrawn in {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
