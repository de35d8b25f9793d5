"""Placeholder: replaced by the module's owner."""


def register(app) -> None:  # noqa: D103
    pass
