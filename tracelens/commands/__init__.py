"""One module per CLI command: each calls the library and prints or writes the results."""
