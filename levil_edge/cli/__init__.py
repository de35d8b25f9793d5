"""The Typer CLI: one module per command group, each with ``register(app)``. A thin layer:
commands parse options, call one library function and print its result."""
