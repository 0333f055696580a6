"""The one C extension; everything else is configured in pyproject.toml.

`toxmine.miner._native` computes the poly64/affine32 MinHash signature (miner/_native.c).
It is optional: without a C compiler the install still succeeds and dedup.py computes the same
signatures with numpy (about 4x the CPU).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "toxmine.miner._native",
            sources=["miner/_native.c"],
            extra_compile_args=["-O3"],
            optional=True,
        )
    ]
)
