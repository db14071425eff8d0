"""Everything that touches Kafka: the embedded broker, topic declarations and the clients."""
