"""Exports that render video: burned-in captions, the spoken track, the bundled ffmpeg."""
