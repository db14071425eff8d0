"""The enrich stage: reference data, the watchlist join in both directions, a risk indicator."""
