"""The writer mode: the served files in a directory, in the kubelet's atomic-writer layout."""
