"""The benchmark (``python -m bench``, ``make bench``): Liaison against the raw floor and the
Quix Streams peer on one broker, in one run. Not shipped in the package."""
