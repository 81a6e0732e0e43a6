"""One module per family group: each reader turns a config.json (through `errors.Fields`)
into a `ModelSpec`. `architecture.from_config` chooses the reader."""
