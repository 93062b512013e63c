"""Processing provider ``idfhr`` and one module per algorithm."""
