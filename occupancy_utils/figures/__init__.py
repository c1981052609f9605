"""Figure code of the chapters, one module per chapter group.

Static figures are matplotlib/seaborn and returned as ``Figure`` objects (the
notebook displays them); interactive ones are plotly figures the notebook
passes to :func:`occupancy_utils.plots.show`. Colours of the occupancy classes
are shared, so class 2 is the same colour in every figure of the book.
"""

from __future__ import annotations

#: One colour per occupancy class 0..3 (empty room in grey, then light to dark).
CLASS_COLOURS: dict[int, str] = {0: "#bdbdbd", 1: "#4c9be8", 2: "#f5a623", 3: "#d0312d"}
