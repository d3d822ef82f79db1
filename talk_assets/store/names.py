"""Names in a tenant file: the state schema and identifier quoting (imported by the store's
modules and re-exported by `tenant`)."""

STATE_SCHEMA = "state"


def q(name: str) -> str:
    """Quote an identifier for DuckDB SQL."""
    return '"' + name.replace('"', '""') + '"'
