"""verigate benchmark: the pieces bench/bench.py is made of (see its docstring)."""
