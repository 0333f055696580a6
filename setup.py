"""The one C extension; everything else is configured in pyproject.toml.

`toxmine.miner._native` (miner/_native.c) holds per-document loops: the poly64/affine32 MinHash
signature, language ID's sample and window, normalisation's code point mapping. It is optional:
without a C compiler the install still succeeds, and dedup.py and langid.py compute the same results
with their numpy/Python definitions (~0.2 ms more CPU a page; `miner/native.py` warns once a run).
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
