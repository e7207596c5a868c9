"""Plots: the files tether.yaml declares as plots, read at the workspace, any
git revision or experiment, turned into Vega-Lite specs with one series per
revision, and rendered to one self-contained HTML page, PNG or SVG.

    decls  which plots: tether.yaml's declarations at each revision
    data   a plot file's bytes as columns (CSV, TSV, JSON, YAML)
    collect  the series of every plot across revisions, and what went wrong
    templates  Vega-Lite specs (linear, scatter, smooth, confusion, …)
    output  the HTML page, PNG and SVG files, the JSON document
"""
