"""Layer 6, pictures: PNG and SVG plots (matplotlib, Agg) of the metrics (plots, program_plots).
Imports the layers below only.
"""
