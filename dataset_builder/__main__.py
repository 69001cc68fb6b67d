"""Command line: python -m dataset_builder INPUT [INPUT ...] --out DIR [options]."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from realorai.config import portraits_dir

from .build import BuildOptions, build


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m dataset_builder",
        description="Build the Real-or-AI portrait dataset from folders laid out LABEL/SOURCE/*.jpg "
        "(LABEL is real or ai), with an optional manifest.csv (file,generator). Inputs are only read.",
    )
    parser.add_argument("inputs", nargs="*", type=Path, help=f"input folders (default: {portraits_dir()})")
    parser.add_argument("--out", type=Path, default=Path("data/portraits-faces"), help="output folder (default: %(default)s)")
    parser.add_argument(
        "--size", type=int, default=BuildOptions.size, help="side of the square face crop in px (default: %(default)s)"
    )
    parser.add_argument(
        "--seed", type=int, default=BuildOptions.seed, help="split seed; same inputs + seed = same split (default: %(default)s)"
    )
    parser.add_argument("--fractions", type=float, nargs=3, default=BuildOptions.fractions, metavar=("TRAIN", "VAL", "TEST"))
    parser.add_argument(
        "--holdout-source",
        action="append",
        default=[],
        metavar="SOURCE",
        help="keep this source out of train/validation/test as an unseen-generator `holdout` split (repeatable)",
    )
    parser.add_argument(
        "--no-face",
        choices=("drop", "keep"),
        default="drop",
        help="images where no face is found: drop them, or keep their centre square (default: %(default)s)",
    )
    parser.add_argument(
        "--hash-size",
        type=int,
        default=BuildOptions.hash_size,
        help="perceptual hash of N x N bits for duplicates and look-alikes; 8 with --near-duplicate-bits 5 "
        "--group-bits 8 rebuilds the data as before 2026-12-07 (default: %(default)s)",
    )
    parser.add_argument(
        "--near-duplicate-bits",
        type=int,
        default=BuildOptions.near_duplicate_bits,
        help="perceptual-hash distance counted as a duplicate (default: %(default)s)",
    )
    parser.add_argument(
        "--group-bits",
        type=int,
        default=BuildOptions.group_bits,
        help="perceptual-hash distance kept inside one split (default: %(default)s)",
    )
    parser.add_argument(
        "--format",
        choices=("png", "jpeg"),
        default=BuildOptions.image_format,
        help="how crops are stored (default: %(default)s, lossless)",
    )
    parser.add_argument("--workers", type=int, default=0, help="processes for face cropping (default: one per core)")
    parser.add_argument("--limit-per-source", type=int, default=0, help="use at most N images per source (quick trials)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    parser.add_argument("--push-to-hub", metavar="ORG/NAME", help="after building, upload to this Hub dataset repo")
    parser.add_argument("--private", action="store_true", help="with --push-to-hub: create the repo private")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    options = BuildOptions(
        inputs=args.inputs or [portraits_dir()],
        out=args.out,
        size=args.size,
        seed=args.seed,
        fractions=tuple(args.fractions),
        holdout=args.holdout_source,
        keep_faceless=args.no_face == "keep",
        hash_size=args.hash_size,
        near_duplicate_bits=args.near_duplicate_bits,
        group_bits=args.group_bits,
        image_format=args.format,
        workers=args.workers,
        overwrite=args.overwrite,
        limit_per_source=args.limit_per_source,
    )
    try:
        report = build(options)
    except (FileExistsError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print_summary(report, options)
    if args.push_to_hub:
        from .hub import push_dataset

        print(f"pushing to the Hub as {args.push_to_hub} ...")
        print(push_dataset(options.out, args.push_to_hub, private=args.private))
    return 0


def print_summary(report, options: BuildOptions) -> None:
    print(f"\nDataset written to {options.out} (load with datasets.load_from_disk)")
    print(f"{'split':<11}{'label':<6}{'source':<12}{'generator':<22}{'images':>7}")
    for split, label, source, generator, n in report.counts:
        print(f"{split:<11}{label:<6}{source:<12}{generator:<22}{n:>7}")
    totals: dict[str, int] = {}
    for split, *_, n in report.counts:
        totals[split] = totals.get(split, 0) + n
    print("totals: " + ", ".join(f"{s} {n}" for s, n in totals.items()) + f", all {sum(totals.values())}")
    print("duplicates dropped: " + (", ".join(f"{k} {v}" for k, v in sorted(report.dedupe.items())) or "none"))
    print(f"skipped: {len(report.skipped)}" + (" (reasons in build_report.json)" if report.skipped else ""))
    for path, reason in report.skipped[:10]:
        print(f"  {path}: {reason}")
    if options.keep_faceless:
        print(f"kept without a face (centre square): {report.faceless_kept}")


if __name__ == "__main__":
    sys.exit(main())
