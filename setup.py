"""Build hook for the C scanner of the parser; all other metadata is in pyproject.toml.

``parsers._fastscan`` is optional: without a C compiler the install still succeeds and
the parser runs its pure-Python path (same output, slower).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "parsers._fastscan",
            ["parsers/_fastscan.c"],
            extra_compile_args=["-O3", "-std=gnu11"],
            optional=True,
        )
    ]
)
