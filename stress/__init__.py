"""Full-size reliability runs (``python stress/<script>.py ...``, see docs/reliability.md).

A package so that ``tests/reliability`` imports the same engines and helpers (``from stress import hostile``),
run small there; pytest finds it through ``pythonpath`` in ``pyproject.toml``.
"""
