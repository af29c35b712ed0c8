"""Plots shared by the chapters, one module per topic (data, mnist, recsys, ...)."""
