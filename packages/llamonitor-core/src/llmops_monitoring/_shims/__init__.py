"""Seed (``llmops_monitoring``) module paths whose names differ in llamonitor.

Each module here re-exports llamonitor objects under the seed's names (never copies them) and
forwards any other attribute to the llamonitor module it stands for. ``RENAMED`` in
``llmops_monitoring/__init__.py`` points seed paths at these modules.
"""
