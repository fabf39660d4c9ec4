"""One module per ``drpo-analysis`` sub-command (see ``drpo_analysis.cli``)."""
