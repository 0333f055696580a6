"""Jinja2 templates of `toxmine report` (package data: HTML and Markdown)."""
