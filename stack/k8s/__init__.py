"""Kubernetes manifests: the parts generated from the code (topics, users, alert rules, the
routing policy) and their offline validation. ``deploy/k8s/`` holds the manifests."""
