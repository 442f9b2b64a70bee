"""Layer 7, reports: the HTML reports that gather the pictures, tables and exports (report for one
or two traces, allocators for the allocator lab, program_report for user programs). Imports the
layers below only; only the command line (analyzer/__main__.py) sits above.
"""
