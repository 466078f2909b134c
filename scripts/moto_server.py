#!/usr/bin/env python3
"""moto's server with the project's extensions (scripts/moto_ext/): the only way the project starts
moto. Same command line as moto's `moto_server` (`-H HOST -p PORT`, `-r`, `-s`, `-c`, `-k`).

Run it with the virtualenv that scripts/tools.sh installs:
    .tools/venv/bin/python scripts/moto_server.py -H 127.0.0.1 -p 5000
"""
import os
import sys

# No __pycache__ in the work tree.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from moto.server import main  # noqa: E402

from moto_ext import ecr_2026, sts_roles  # noqa: E402

if __name__ == "__main__":
    ecr_2026.install()
    sts_roles.install()
    sys.exit(main())
