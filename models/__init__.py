"""Model files: catalog, download, conversion to GGUF, and the llama.cpp engine.

Nothing here imports Qt.
"""
