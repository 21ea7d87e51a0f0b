"""Where change sets go: the FUSE mount, Kubernetes Secrets, hooks."""
