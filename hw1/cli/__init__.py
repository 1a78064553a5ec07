"""Top layer: what one invocation does (flags and profiles, a sweep of runs, the source of a post-hoc analysis)."""
