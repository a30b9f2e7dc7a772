"""Doors to the outside: real data sets, found locally or downloaded with a sha256 check."""
