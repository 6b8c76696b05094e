"""The ops: one forward/backward pair per loss, grouped by family, math in each module's docstring."""
