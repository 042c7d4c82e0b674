"""roadkd's command-line interface: thin click commands that call into :mod:`roadkd`."""
