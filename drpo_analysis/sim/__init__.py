"""NumPy/SciPy simulations: long-tailed vocabularies under training–inference mismatch
(:mod:`.vocab`) and softmax-policy training dynamics driven by the registry (:mod:`.dynamics`)."""
