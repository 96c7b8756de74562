"""Reporting: figures, number formats and the briefing, drawn from the experiments' tables."""
