"""Runs the three stages (read and partition, facts per partition, cross-trace analyses)
on this machine (``local``) or on a Dask cluster (``dask``); work directories; datasets."""
