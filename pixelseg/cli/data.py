"""`pixelseg data convert ...` and `pixelseg data check DIR`."""
from __future__ import annotations

import argparse
from pathlib import Path

from pixelseg.cli.checks import check_output_dir, check_output_file
from pixelseg.cli.options import positive_int
from pixelseg.errors import PixelsegError

HELP = "convert annotations (COCO, VOC, labelme, colour masks) into the folder format, check a data folder, or composite people onto backgrounds"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    convert = sub.add_parser(
        "convert", help="convert annotations into DIR/classes.txt, DIR/images/<split>/, DIR/masks/<split>/",
        description="Convert annotations into the folder format. The split appears only when it converted completely.",
    )
    convert.add_argument("--from", dest="fmt", required=True, choices=["coco", "voc", "labelme", "color-masks"], help="source format")
    convert.add_argument("source", metavar="SRC", help="coco: instances JSON; voc: folder with JPEGImages/ and SegmentationClass/; "
                         "labelme: folder of .json files; color-masks: folder with images/ and masks/ (or the masks, with --images)")
    convert.add_argument("--out", required=True, type=Path, metavar="DIR", help="output data folder (a new split is added to an existing one)")
    convert.add_argument("--classes", metavar="FILE", help="class list, line i = class i (coco: a subset by name, line 1 = background; "
                         "voc: names of the palette indices; labelme: fixes the ids) or, for color-masks, the colour table (.csv or .json)")
    convert.add_argument("--split", metavar="NAME", help="split to write (default: coco: from the file name, e.g. instances_val2017 -> val; "
                         "voc: every ImageSets/Segmentation list except trainval; others: train)")
    convert.add_argument("--images", metavar="DIR", help="image folder (coco: default found next to the JSON, e.g. ../images/<split>; color-masks)")
    convert.add_argument("--line-width", type=positive_int, default=10, metavar="PX", help="labelme: width of line and linestrip shapes (default 10)")

    check = sub.add_parser("check", help="statistics and loud findings for a data folder (exit 1 on errors)",
                           description="Read every image and mask of a data folder; print counts, sizes and per-class frequencies, "
                           "write a bar chart, and list problems. Exit status 1 on errors, 0 with warnings only.")
    check.add_argument("root", metavar="DIR", type=Path, help="data folder (classes.txt, images/<split>/, masks/<split>/)")
    check.add_argument("--out", metavar="CHART.png", type=Path, help="bar chart of the class frequencies (default: runs/check/<DIR name>.png)")

    composite = sub.add_parser("composite", help="a person data set made by pasting cut-out people onto backgrounds (exact masks)",
                               description="Write a folder-format person data set (background, person): COUNT composites of "
                               "cut-outs on backgrounds, framed like a video call, plus a photo set's own train photos "
                               "(repeated) and its val split. The same arguments give the same pixels.")
    composite.add_argument("--cutouts", required=True, type=Path, metavar="DIR",
                           help="folder of RGBA person cut-outs (or a folder holding cutouts/ and backgrounds/)")
    composite.add_argument("--backgrounds", type=Path, metavar="DIR", help="folder of person-free backgrounds (default: CUTOUTS/backgrounds)")
    composite.add_argument("--photos", type=Path, metavar="DIR", help="a folder-format person set: its people are pasted too, "
                           "its train photos join train and its val split is the val split")
    composite.add_argument("--photo-repeat", type=positive_int, default=6, metavar="N", help="copies of each real train photo (default 6)")
    composite.add_argument("--count", type=positive_int, default=4000, metavar="N", help="composites to make (default 4000)")
    composite.add_argument("--seed", type=int, default=0, help="seed of the first composite (default 0)")
    composite.add_argument("--out", required=True, type=Path, metavar="DIR", help="output data folder")


def run(args: argparse.Namespace) -> int:
    if args.data_command == "convert":
        return _convert(args)
    if args.data_command == "composite":
        return _composite(args)
    return _check(args)


def _convert(args) -> int:
    from pixelseg.data.convert import convert

    if args.images and args.fmt not in ("coco", "color-masks"):
        raise PixelsegError(f"--images is for --from coco and --from color-masks, not {args.fmt}")
    check_output_dir(args.out, "--out")
    options = {}
    if args.images:
        options["images"] = args.images
    if args.fmt == "labelme":
        options["line_width"] = args.line_width
    counts = convert(args.fmt, args.source, args.out, classes=args.classes, split=args.split, **options)
    for split, count in counts.items():
        print(f"{args.out}: wrote {count} images and masks to split {split!r}")
    print(f"check it with: pixelseg data check {args.out}")
    return 0


def _check(args) -> int:
    from pixelseg.data.check import check_folder, format_findings, format_table, write_chart

    chart = check_output_file(args.out or Path("runs") / "check" / f"{args.root.resolve().name}.png", "--out")
    report = check_folder(args.root)
    print(format_table(report))
    print()
    write_chart(report, chart)
    print(f"chart: {chart}")
    print(format_findings(report))
    return 1 if report.errors else 0


def _composite(args) -> int:
    from tqdm import tqdm

    from pixelseg.data.composite import write_composites

    backgrounds = args.backgrounds or args.cutouts / "backgrounds"
    counts = write_composites(args.out, args.count, args.cutouts, backgrounds, photos=args.photos, photo_repeat=args.photo_repeat,
                              seed=args.seed, progress=lambda steps: tqdm(steps, desc="composites", unit="image"))
    for split, count in counts.items():
        print(f"{args.out}: wrote {count} images and masks to split {split!r}")
    return 0
