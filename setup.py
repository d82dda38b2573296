"""Build the engines' C kernels (everything else is in pyproject.toml).

Each kernel module is plain C against the CPython API (buffers, no NumPy headers). The flags keep
float arithmetic IEEE and in source order — no fused multiply-add, no reassociation — because the
kernels must reproduce HSTCAL's float32 results bit for bit.
"""

import os
import sys

from setuptools import Extension, setup

if sys.platform == "win32":
    CFLAGS = ["/O2", "/fp:precise"]
else:
    CFLAGS = ["-O3", "-std=c99", "-ffp-contract=off", "-fno-math-errno", "-Wall", "-Wno-unused-function"]


def _kernel_modules(root: str = "caldp") -> dict[str, str]:
    """Every ``_kernels.c`` / ``_<name>_kernels.c`` under the package: module name -> source.

    Found by name so that a new engine's kernel needs no edit here.
    """
    found = {}
    for dirpath, _dirs, files in os.walk(root):
        for fname in sorted(files):
            if fname.endswith("kernels.c") and fname.startswith("_"):
                src = os.path.join(dirpath, fname).replace(os.sep, "/")
                found[src[: -len(".c")].replace("/", ".")] = src
    return dict(sorted(found.items()))


KERNELS = _kernel_modules()

# While developing one kernel module: CALDP_BUILD_ONLY=<module name> python setup.py build_ext --inplace
ONLY = os.environ.get("CALDP_BUILD_ONLY", "").split(",") if os.environ.get("CALDP_BUILD_ONLY") else None

setup(
    ext_modules=[
        Extension(
            name,
            [src],
            include_dirs=["caldp/engines/common"],
            extra_compile_args=CFLAGS,
            depends=["caldp/engines/common/ckernel.h"],
        )
        for name, src in KERNELS.items()
        if ONLY is None or name in ONLY
    ]
)
