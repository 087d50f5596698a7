"""wattbridge's built-in plugins, one folder each: code, README.md and sample.toml."""
