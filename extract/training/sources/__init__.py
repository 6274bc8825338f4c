"""Converters from public corpora into the project's gold format (articles/ + labels/)."""
