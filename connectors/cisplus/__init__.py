"""CIS+: the EU Customs Information System (OLAF's AFIS platform)."""
