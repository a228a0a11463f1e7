"""setuptools' build backend, building in a scratch directory so `pip install .` leaves the
source tree as it was (no `build/`, no `*.egg-info`).

pyproject.toml names this module as the backend; it only points setuptools' build and
egg-info directories elsewhere (through distutils' DIST_EXTRA_CONFIG file) and hands every
hook to setuptools.
"""

import atexit
import os
import shutil
import tempfile

from setuptools.build_meta import *  # noqa: F403 (every PEP 517/660 hook, unchanged)

_SCRATCH = tempfile.mkdtemp(prefix="zmq-supervisor-build-")
atexit.register(shutil.rmtree, _SCRATCH, True)
_EXTRA = os.path.join(_SCRATCH, "setup.cfg")
with open(_EXTRA, "w", encoding="utf-8") as _stream:
    _stream.write(f"[build]\nbuild_base = {_SCRATCH}/build\n"
                  f"[egg_info]\negg_base = {_SCRATCH}\n")
os.environ["DIST_EXTRA_CONFIG"] = _EXTRA
