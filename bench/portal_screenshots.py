"""The customer portal's screenshots in docs/portal/: `python -m bench.portal_screenshots [--out DIR]`

They are taken by the browser test itself (tests/e2e/test_portal.py, with
EDP_PORTAL_SCREENSHOTS set), so each one shows a page in the state the test has just checked:
a real endpoint on a sample receiver, real deliveries through a pipeline on a local Ray, and a
day of synthetic history for the overview's chart. Needs the local services (make services).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEST = ROOT / "tests" / "e2e" / "test_portal.py"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "portal")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    os.environ["EDP_PORTAL_SCREENSHOTS"] = str(args.out.resolve())
    code = int(pytest.main(["-q", "-p", "no:cacheprovider", str(TEST)]))
    for png in sorted(args.out.glob("*.png")):
        print(
            f"{png.relative_to(ROOT) if png.is_relative_to(ROOT) else png}  {png.stat().st_size // 1024} KiB"
        )
    return code


if __name__ == "__main__":
    sys.exit(main())
