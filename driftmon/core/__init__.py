"""Pure computation: binning, histograms, divergences and statistics.

Nothing in this package reads files, talks to a database, looks at the clock or logs;
every function is a deterministic function of its arguments.
"""
