"""Tables, glued numbers and computed verdicts of the chapters, one module per model family.

They read what the study modules (:mod:`~occupancy_utils.crf_study`,
:mod:`~occupancy_utils.bnn_study`, :mod:`~occupancy_utils.lstm_study`) computed and
stored; no search's objective reaches them, so editing a table or a verdict keeps
every stored search (:mod:`~occupancy_utils.cache_key`). Each verdict states its
rule in a module constant, and the tests check it at its boundaries.
"""
