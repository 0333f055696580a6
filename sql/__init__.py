"""SQL shipped with toxmine: numbered migrations (`migrations/`) applied on open, views and
named parameterised queries (`queries/`) shared by code, notebooks and the CLI."""
