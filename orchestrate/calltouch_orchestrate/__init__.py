"""Dagster code location for tap-calltouch: shards of `sites` as partitions, run by Meltano.

Dagster loads `calltouch_orchestrate.definitions`; `shards` is plain Python, without Dagster.
"""
