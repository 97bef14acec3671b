"""Ground-truth simulators: plain functions of their inputs, safe to run in a pool or on Dask."""
