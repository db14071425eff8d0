"""Police: INTERPOL notices and diffusions, database entries, national alerts; the watchlist."""
