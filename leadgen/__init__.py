"""Settings shared by every layer (assistant, graphs, tools, db).

This package sits below all the others in the dependency order, so any of them may import it.
"""
