"""Built-in plugins that add commands only."""
