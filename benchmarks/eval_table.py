"""Pixel IoU / object F1 per place of several ``eval_buildings.py --json`` outputs, side by side.

    python benchmarks/eval_table.py runs/eval/default.json runs/eval/lever-a-style-best.json ...
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main() -> None:
    tables = {Path(p).stem: {r["place"]: r for r in json.loads(Path(p).read_text())} for p in sys.argv[1:]}
    places = list(next(iter(tables.values())))
    print(f"{'place':<18}" + "".join(f"{name[:16]:>18}" for name in tables))
    for place in places:
        print(f"{place:<18}" + "".join(f"{t[place]['iou']:>9.3f} / {t[place]['object_f1']:.3f}" for t in tables.values()))


if __name__ == "__main__":
    main()
