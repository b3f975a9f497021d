"""The meter's own modules inside a host process, found the way a board finds them.

On a board the firmware's modules are flat (lib/ and drivers/ on the board's path) beside the
protocol, boards and simulator packages; the MicroPython unix port gets the same path as
MICROPYPATH (simulator/unix_port.py). In a host process those names (`app`, `meter`, `settings`,
`protocol`...) would collide with the host's, so the board's modules live in a table of their own:
each runs with an `__import__` that resolves the board's names on the board's path, into this
table, and leaves every other name (the standard library, test fakes) to the host. The protocol
package is the one exception: the board gets the host's `opsm.protocol` (the same files, which
import each other relatively), so an error a firmware module raises from a protocol core is the
class the host's servers catch. The host's sys.path and sys.modules are never touched.

    Run = board.module("simulator.scenario_run").Run
"""

import builtins
import importlib.util
import os
import threading
import types

# The tree holding firmware/, protocol/, boards/ and simulator/: the repository, or the installed
# `opsm` package, which keeps the same layout.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The board's path, in the order MicroPython searches it.
PATH = (ROOT, os.path.join(ROOT, "firmware", "lib"), os.path.join(ROOT, "firmware", "drivers"))

_host_import = builtins.__import__
SHARED = {"protocol": "opsm.protocol"}  # board name -> the host package it is


class _Board:
    def __init__(self, path: tuple):
        self.path = path
        self.modules: dict = {}
        self._on_board: dict = {}  # top-level name -> found on the board's path
        self._builtins = dict(vars(builtins), __import__=self._import)
        self._lock = threading.RLock()  # a module's first import may come from two threads

    def module(self, name: str) -> types.ModuleType:
        with self._lock:
            found = self.modules.get(name)
            return found if found is not None else self._load(name)

    def _load(self, name: str) -> types.ModuleType:
        top, dot, rest = name.partition(".")
        if top in SHARED:
            module = self.modules[name] = importlib.import_module(SHARED[top] + dot + rest)
            return module
        parent, _, leaf = name.rpartition(".")
        package = self.module(parent) if parent else None
        for folder in package.__path__ if package else self.path:
            base = os.path.join(folder, leaf)
            if os.path.isfile(os.path.join(base, "__init__.py")):
                spec = importlib.util.spec_from_file_location(name, os.path.join(base, "__init__.py"),
                                                              submodule_search_locations=[base])
                break
            if os.path.isfile(base + ".py"):
                spec = importlib.util.spec_from_file_location(name, base + ".py")
                break
        else:
            raise ModuleNotFoundError("no module named %r on the board's path" % name, name=name)
        module = importlib.util.module_from_spec(spec)
        module.__builtins__ = self._builtins  # type: ignore[attr-defined]  # its imports resolve here
        self.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del self.modules[name]
            raise
        if package:
            setattr(package, leaf, module)
        return module

    def _is_board_name(self, top: str) -> bool:
        found = self._on_board.get(top)
        if found is None:
            found = self._on_board[top] = top in SHARED or any(
                os.path.isfile(os.path.join(folder, top + ".py")) or
                os.path.isfile(os.path.join(folder, top, "__init__.py")) for folder in self.path)
        return found

    def _import(self, name, globals=None, locals=None, fromlist=(), level=0):
        if level:
            name = importlib.util.resolve_name("." * level + name, globals["__package__"])
        elif not self._is_board_name(name.partition(".")[0]):
            return _host_import(name, globals, locals, fromlist, level)
        module = self.module(name)
        if not fromlist:
            return self.modules[name.partition(".")[0]]  # `import a.b` binds a
        if hasattr(module, "__path__"):
            for item in fromlist:
                if item != "*" and not hasattr(module, item):
                    try:
                        self.module(name + "." + item)
                    except ModuleNotFoundError as exc:
                        if exc.name != name + "." + item:
                            raise  # a module it imports is missing, not the one named
        return module


_BOARD = _Board(PATH)


def module(name: str) -> types.ModuleType:
    """The board's module `name` (e.g. "meter", "boards.sim", "simulator.scenario_run"), loaded
    with everything it imports from the board's path on first use."""
    return _BOARD.module(name)
