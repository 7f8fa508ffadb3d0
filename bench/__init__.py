"""dynsecrets benchmarks: ``python -m bench`` (``--quick`` for the small CI set).

Every comparison is a ratio taken side by side in the same run; every figure is a
median over repeats. Results go to docs/benchmarks.md (and two PNG charts).
"""
