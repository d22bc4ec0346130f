"""Facial-recognition enforcement classifier: decision, field extraction and event grouping."""

from frwatch.classify.classifier import Classifier, ItemText, Verdict

__all__ = ["Classifier", "ItemText", "Verdict"]
