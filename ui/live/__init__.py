"""The Live tab: source and model pickers, preview, transcript, status line, overlay."""
