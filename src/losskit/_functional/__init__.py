"""Public loss functions by family; ``losskit.functional`` re-exports them all."""
