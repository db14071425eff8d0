"""Synthetic enforcement traffic: realistic, invented, reproducible from a seed."""
