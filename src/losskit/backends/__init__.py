"""Bridges from losskit's ops to other libraries' autodiff systems, imported only on demand."""
