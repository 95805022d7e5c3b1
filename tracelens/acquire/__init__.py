"""Getting traces from outside into a bundle: the X-Ray API, AWS side inputs, the UDP listener
and the OTLP receiver."""
