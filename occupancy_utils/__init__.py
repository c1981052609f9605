"""Shared code of the Room Occupancy Estimation book.

The notebooks stay short narratives; data handling, folds, metrics, training
loops, searches and plotting helpers live here and are unit tested.
"""

__version__ = "0.1.0"
