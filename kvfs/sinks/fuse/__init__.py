"""The read-only FUSE filesystem: the served tree, its handlers, kernel invalidation, mounting."""
