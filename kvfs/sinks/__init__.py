"""Where change sets go: the FUSE mount, hooks (and more as they come)."""
