"""The engine host: the engine child process and the one host that runs jobs on it (live, review)."""
