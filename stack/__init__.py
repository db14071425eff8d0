"""What composes Liaison's parts: the local stack, the stand-ins for the systems at either
end, synthetic traffic in Avro and in the connectors' native formats, the local Prometheus,
and the Kubernetes manifests' generation and validation."""
