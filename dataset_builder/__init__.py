"""Build the labelled portrait dataset: face crops, deduplicated, split without leakage, with a card.

Run `python -m dataset_builder --help`.
"""
