"""Liaison: streaming data exchange between customs and police over Kafka."""

__version__ = "0.1.0"
