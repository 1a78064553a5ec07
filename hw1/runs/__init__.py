"""Bottom layer: run settings, result folders and their summaries, atomic files, errors, launch details."""
