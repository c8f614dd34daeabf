"""Reports a client can be handed: shared HTML/print styling and headless Chromium (screenshot, PDF)."""
