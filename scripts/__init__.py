"""Command-line wrappers and development tools. The wrappers
(``python scripts/ingest.py`` ...) call ``newsclusters``; the tools that need
the whole checkout (bench, fuzz, loadtest, screenshots) run from the
repository root as ``python -m scripts.NAME``."""
