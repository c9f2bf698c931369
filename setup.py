"""The engine's compiled kernels (the rest of the package's metadata is in pyproject.toml).

The release build (the default) turns Cython's bounds, wraparound and initialization checks off: the
kernels check their inputs once per call instead (`_strings` in the .pyx). DP_KERNELS_CHECKED=1 at build
time gives the checked build the tests also run against (scripts/test-kernels-checked.sh): Cython's
checks on, and AddressSanitizer for what they cannot see (the raw pointers of siphash, concat and
pool_picks); `_kernels.CHECKED` tells which build is loaded.
"""

import os

from Cython.Build import cythonize
from setuptools import Extension, setup

CHECKED = os.environ.get("DP_KERNELS_CHECKED", "") not in ("", "0")
SANITIZE = ["-fsanitize=address", "-fno-omit-frame-pointer"]

kernels = Extension(
    "data_pipeline.anonymize._kernels",
    ["data_pipeline/anonymize/_kernels.pyx"],
    define_macros=[("DP_KERNELS_CHECKED", "1" if CHECKED else "0")],
    extra_compile_args=[*SANITIZE, "-O1", "-g"] if CHECKED else [],
    extra_link_args=SANITIZE if CHECKED else [],
)
setup(
    ext_modules=cythonize(
        [kernels],
        compiler_directives={"boundscheck": CHECKED, "wraparound": CHECKED, "initializedcheck": CHECKED},
        build_dir="build/cython-checked" if CHECKED else "build/cython",  # one .c per flavour
        quiet=True,
    )
)
