"""Avro: the schema store (``schemas/avro``) and the single-object codec for every topic."""
