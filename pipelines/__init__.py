"""The stream stages of Liaison, as Faust agents over the topics in ``liaison.kafka.topics``.

Each stage is thin wiring around plain functions. ``pipelines.app`` builds the
Faust application from the settings; ``pipelines.worker`` runs it.
"""
