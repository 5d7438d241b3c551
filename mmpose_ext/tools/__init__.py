"""Command-line entry points (``python -m mmpose_ext.tools.<name>``): thin,
calling the library."""
