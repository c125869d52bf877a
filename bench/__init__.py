"""Performance figures for bscpay (``make bench``): DESIGN §8 budgets, measured, never asserted.

``python -m bench`` runs the scanner figures and writes ``bench/results/scanner.json``;
see bench/README.md for what each figure means and how it is measured.
"""
