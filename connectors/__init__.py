"""Connectors to the external systems, one package per system, each with a source and a sink."""
