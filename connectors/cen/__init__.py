"""CEN: the WCO Customs Enforcement Network, and national CEN installations (nCEN)."""
