"""One module per CLI command: call the library, print results."""
