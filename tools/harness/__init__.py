# SPDX-License-Identifier: GPL-2.0
"""The project's harness library: run as python3 -m harness.MODULE with
PYTHONPATH=tools (the Makefile's $(PY))."""
