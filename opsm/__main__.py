"""python -m opsm: the same as the `opsm` command."""

from opsm.host.cli import main

main()
