"""Reference data bundled with Liaison (code lists that no installed package provides)."""
