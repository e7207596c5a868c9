"""Pipelines: tether.yaml, the stage graph, staleness, repro and the run-cache."""

FILE = "tether.yaml"  # here, so a check for it imports nothing else
