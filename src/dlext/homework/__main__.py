"""``python -m dlext.homework release|grade``: student versions of chapters, and grading of submissions.

    python -m dlext.homework release book/03_cnn.ipynb --out student/
    python -m dlext.homework grade submissions/ --out grades/ --released student/03_cnn.ipynb [--tests hidden_tests/]
        [--timeout 60] [--jobs 2]
"""
import argparse
import sys
from pathlib import Path

from dlext.homework.grade import grade
from dlext.homework.release import ReleaseError, release


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dlext.homework", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    rel = commands.add_parser("release", help="write student notebooks: solutions stubbed, outputs cleared")
    rel.add_argument("notebooks", nargs="+", type=Path, metavar="NOTEBOOK")
    rel.add_argument("--out", required=True, type=Path, metavar="DIR")
    gra = commands.add_parser("grade", help="grade submitted notebooks into DIR/grades.csv and DIR/<student>.json")
    gra.add_argument("submissions", nargs="+", type=Path, metavar="SUBMISSION")
    gra.add_argument("--out", required=True, type=Path, metavar="DIR")
    gra.add_argument("--tests", type=Path, metavar="DIR", help="instructor (hidden) pytest files")
    gra.add_argument("--timeout", type=float, default=60, metavar="SECONDS",
                     help="time limit for each cell, check and hidden test (default 60)")
    gra.add_argument("--total-timeout", type=float, metavar="SECONDS",
                     help="time limit for a whole submission (default 60 + timeout x (steps + 1))")
    gra.add_argument("--jobs", type=int, default=1, help="submissions graded at once (default 1)")
    gra.add_argument("--memory", type=int, default=4096, metavar="MB",
                     help="memory limit of each submission's process (RLIMIT_DATA; default 4096 MB)")
    gra.add_argument("--disk", type=int, default=256, metavar="MB",
                     help="size of each submission's private scratch folder (a tmpfs; default 256 MB)")
    gra.add_argument("--released", "--notebook", type=Path, metavar="NOTEBOOK",
                     help="the notebook handed out: its check calls name the topics graded")
    gra.add_argument("--questions", metavar="TOPIC[,TOPIC...]",
                     help="topics (cnn) or question ids (cnn.q2) to grade, comma-separated")
    gra.add_argument("--unsafe-no-sandbox", action="store_true",
                     help="grade without the bubblewrap sandbox (only for submissions you trust)")
    args = parser.parse_args(argv)
    try:
        if args.command == "release":
            for path in release(args.notebooks, args.out):
                print(f"wrote {path}")
            return 0
        names = [n.strip() for n in args.questions.split(",") if n.strip()] if args.questions else None
        rows = grade(args.submissions, args.out, args.tests, args.timeout, args.total_timeout, args.jobs, args.memory,
                     released=args.released, questions=names, unsafe_no_sandbox=args.unsafe_no_sandbox,
                     disk_mb=args.disk)
    except (ReleaseError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    students = sorted({r["student"] for r in rows})
    for student in students:
        mine = [r for r in rows if r["student"] == student]
        print(f"{student}: {sum(r['points'] for r in mine):g}/{sum(r['max_points'] for r in mine):g}")
    print((args.out / "grading.log").read_text(encoding="utf-8"), end="")
    print(f"wrote {args.out / 'grades.csv'}, {len(students)} JSON results, {args.out / 'instructor'}/ "
          f"and {args.out / 'grading.log'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
