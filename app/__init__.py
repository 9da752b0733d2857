"""LiveCC Desk core: sources, sampling, the LiveCC protocol, sinks and the CLI. Never imports Qt."""
