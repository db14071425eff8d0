"""``liaison bench``: Liaison against the raw floor (and a peer) on one broker, in one run."""
