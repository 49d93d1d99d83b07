"""The compiled graph for LangGraph's own tooling (`langgraph.json`: `langgraph dev`, Studio).

The platform supplies its own checkpointer; nodes still need a `PipelineContext` as the run
context, which the run service builds in normal use.
"""

from graphs.pipeline import compile_graph

graph = compile_graph()
