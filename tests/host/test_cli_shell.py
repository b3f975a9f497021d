"""The command line as a shell sees it: its version, and completion scripts for bash, zsh and fish."""

import os
import subprocess
import sys
from importlib.metadata import version

OPSM = os.path.join(os.path.dirname(sys.executable), "opsm")  # the one installed beside this Python


def _opsm(*args, env=None):
    return subprocess.run([OPSM, *args], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, **(env or {})))


def test_dash_v_prints_the_installed_version():
    for flag in ("-V", "--version"):
        out = _opsm(flag)
        assert out.returncode == 0 and out.stdout.strip().endswith(version("opsm")), out


def test_completion_scripts_and_what_they_complete():
    for shell in ("bash", "zsh", "fish"):
        script = _opsm(env={"_OPSM_COMPLETE": shell + "_source"})
        assert script.returncode == 0 and "_OPSM_COMPLETE" in script.stdout, shell
    words = _opsm(env={"_OPSM_COMPLETE": "bash_complete", "COMP_WORDS": "opsm to", "COMP_CWORD": "1"})
    assert "plain,token" in words.stdout.split()  # click's bash protocol: type,value per line
