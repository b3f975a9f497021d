"""Shared fixtures for host-side tests."""

import glob
import itertools
import json
import os
import pathlib
import pwd
import shutil
import socket
import subprocess
import tempfile
import urllib.parse

import pytest

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
    """A real PostgreSQL server from Debian's packages (make setup installs them), on a free port, trust auth."""
    bindir = os.path.dirname(shutil.which("initdb") or (sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb")) or
                                                        [""])[-1])
    assert bindir, "PostgreSQL is not installed: run make setup"
    folder = tempfile.mkdtemp()
    as_user: list = []
    if os.geteuid() == 0:  # initdb refuses root: run the server as the packages' postgres user
        as_user = ["runuser", "-u", "postgres", "--"]
        os.chown(folder, pwd.getpwnam("postgres").pw_uid, -1)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = folder + "/data"
    subprocess.run(as_user + [bindir + "/initdb", "-D", data, "-A", "trust", "-U", "postgres"], check=True,
                   capture_output=True)
    subprocess.run(as_user + [bindir + "/pg_ctl", "-D", data, "-l", folder + "/log", "-w", "-o",
                              "-p %d -k %s -c listen_addresses=127.0.0.1" % (port, folder), "start"], check=True,
                   capture_output=True)
    yield "postgresql://postgres@127.0.0.1:%d/postgres" % port
    subprocess.run(as_user + [bindir + "/pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True)


_databases = itertools.count(1)


@pytest.fixture
def postgres_db(postgres):
    """A new, empty database on the session's PostgreSQL server."""
    import pg8000.dbapi

    name = "test_%d_%d" % (os.getpid(), next(_databases))
    connection = pg8000.dbapi.connect(user="postgres", host="127.0.0.1", port=urllib.parse.urlsplit(postgres).port,
                                      database="postgres")
    connection.autocommit = True
    connection.cursor().execute("CREATE DATABASE " + name)
    connection.close()
    return postgres.rsplit("/", 1)[0] + "/" + name
