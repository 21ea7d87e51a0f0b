"""Loading every object, then polling for new versions and publishing change sets."""
