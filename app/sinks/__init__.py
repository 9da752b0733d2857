"""Where commentary goes: the crash-safe transcript, subtitles, the voice, and the outputs for OBS."""
