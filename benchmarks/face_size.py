"""Small faces: what the served model makes of a face that arrives with few pixels, as the faces at the back
of a group photo or a wide scene do.

Every test face is shrunk to a side of N pixels and blown back up to the crop size, which is what
`realorai.faces.cut` does to a face of that size in a big picture, then scored through the app's own
runtime at the model's thresholds. Prints the table (the card's re-share renderer, plus "AI called real")
and writes benchmarks/face_size.json.

    python -m benchmarks.face_size                       # the bundled model, sides 128, 96, 64, 40 (~7 min on 2 cores)
    python -m benchmarks.face_size --sides 64,32 --model runs/x --limit 400
"""

from __future__ import annotations

from functools import partial

from PIL import Image

from benchmarks.edits import arguments, score_copies


def arrived_at(face: Image.Image, side: int) -> Image.Image:
    """The face as a picture would give it with only `side` pixels across, cut and resized as served."""
    return face.resize((side, side), Image.BICUBIC, reducing_gap=3.0).resize(face.size, Image.BICUBIC)


def main(argv=None) -> int:
    parser = arguments(__doc__, "benchmarks/face_size.json")
    parser.add_argument("--sides", default="128,96,64,40", help="comma-separated face sides in pixels")
    args = parser.parse_args(argv)
    sides = [int(side) for side in args.sides.split(",")]
    score_copies(args, {"clean": None, **{f"{side} px across": partial(arrived_at, side=side) for side in sides}})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
