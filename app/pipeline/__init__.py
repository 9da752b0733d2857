"""From frames to chunks to the engine: sampling, chunking, pacing, and the live session."""
