"""Lightning callbacks used by the experiments."""
