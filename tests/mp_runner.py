"""Run plain-assert test modules under MicroPython (also works under CPython).

Usage: micropython tests/mp_runner.py tests/protocol tests/firmware
Every module named test_*.py in the given package folders is imported and each
top-level test_* function called. Prints `N passed, N failed`; exit 1 on failure.
"""

import gc
import os
import sys

# The runner's own folder comes first on sys.path, where tests/protocol would
# shadow the real protocol package: import from the repository root instead.
if sys.path and sys.path[0].rstrip("/").endswith("tests"):
    sys.path.pop(0)


def _modules(folder):
    package = folder.strip("/").replace("/", ".")
    for name in sorted(os.listdir(folder)):
        if name.startswith("test_") and name.endswith(".py"):
            yield package + "." + name[:-3]


def _run(module_name, counts):
    loaded = set(sys.modules)
    try:
        _run_tests(module_name, counts)
    finally:
        # Unload what the file brought in: a board-sized heap must not hold every module at once.
        for name in list(sys.modules):
            if name not in loaded:
                del sys.modules[name]
        gc.collect()


def _run_tests(module_name, counts):
    module = __import__(module_name, None, None, ["*"])
    for name in sorted(dir(module)):
        test = getattr(module, name)
        if not name.startswith("test_") or not callable(test):
            continue
        try:
            test()
            counts[0] += 1
        except Exception as exc:  # a failing test must not stop the others
            counts[1] += 1
            print("FAIL", module_name + "." + name)
            sys.print_exception(exc) if hasattr(sys, "print_exception") else print(repr(exc))


def main(folders):
    counts = [0, 0]
    for folder in folders:
        for module_name in _modules(folder):
            _run(module_name, counts)
    print("%d passed, %d failed" % (counts[0], counts[1]))
    return 1 if counts[1] or not counts[0] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
