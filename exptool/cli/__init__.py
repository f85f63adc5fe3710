"""The ``exp`` command line (Typer). Thin: parse, call the core, print."""
