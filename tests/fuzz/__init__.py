"""Fuzz targets for every decoder and parser that reads what others send (see targets.py).

``python -m tests.fuzz`` (``make fuzz``) runs each with the full count and prints cases run,
cases per second and findings; ``tests/unit/test_fuzz.py`` runs each at a small count with a
fixed seed in the suite, and replays the corpus of inputs that once found a bug.
"""
