"""Throwaway servers from Debian's packages for tests and benches (make setup-test installs them): a PostgreSQL
cluster and a Redis, each on a free loopback port, gone when the block ends."""

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def postgres():
    """A PostgreSQL server, trust authentication; yields the URL of its `postgres` database."""
    bindir = os.path.dirname(shutil.which("initdb") or (sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb")) or
                                                        [""])[-1])
    assert bindir, "PostgreSQL is not installed: run make setup-test"
    folder = tempfile.mkdtemp()
    as_user: list = []
    if os.geteuid() == 0:  # initdb refuses root: run the server as the packages' postgres user
        as_user = ["runuser", "-u", "postgres", "--"]
        os.chown(folder, pwd.getpwnam("postgres").pw_uid, -1)
    port = free_port()
    data = folder + "/data"
    subprocess.run(as_user + [bindir + "/initdb", "-D", data, "-A", "trust", "-U", "postgres"], check=True,
                   capture_output=True)
    subprocess.run(as_user + [bindir + "/pg_ctl", "-D", data, "-l", folder + "/log", "-w", "-o",
                              "-p %d -k %s -c listen_addresses=127.0.0.1" % (port, folder), "start"], check=True,
                   capture_output=True)
    try:
        yield "postgresql://postgres@127.0.0.1:%d/postgres" % port
    finally:
        subprocess.run(as_user + [bindir + "/pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def new_database(server_url: str, name: str) -> str:
    """An empty database `name` on the server; its URL."""
    import pg8000.dbapi

    connection = pg8000.dbapi.connect(user="postgres", host="127.0.0.1", port=urllib.parse.urlsplit(server_url).port,
                                      database="postgres")
    connection.autocommit = True
    connection.cursor().execute("CREATE DATABASE " + name)
    connection.close()
    return server_url.rsplit("/", 1)[0] + "/" + name


@contextlib.contextmanager
def redis():
    """A Redis server that saves nothing; yields its URL (database 0)."""
    server = shutil.which("redis-server") or "/usr/bin/redis-server"
    assert os.path.exists(server), "Redis is not installed: run make setup-test"
    port = free_port()
    process = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as c:
                    c.sendall(b"PING\r\n")
                    if c.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            assert process.poll() is None, "redis-server exited at start"
            time.sleep(0.1)
        yield "redis://127.0.0.1:%d/0" % port
    finally:
        process.terminate()
        process.wait(10)
