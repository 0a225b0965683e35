"""The `soc` command line: thin Typer commands over the toolkit's modules."""
