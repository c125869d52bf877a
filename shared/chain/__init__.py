"""Chain access: the BSC client, log scanning and compiled contract artifacts."""
