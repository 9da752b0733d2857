"""``livecc-desk``: the console entry point, its subcommands, and what they print."""
