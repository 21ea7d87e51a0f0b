"""Kubernetes Secrets from the class's secretObjects: settings, manifests, the writer and the sink."""
