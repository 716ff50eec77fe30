"""officina.benchmarks: speed and accuracy measured as ratios against a baseline of the same run.

The modules are also scripts (``python benchmarks/bench_ik.py``); `officina bench ...` runs the
same functions.
"""
