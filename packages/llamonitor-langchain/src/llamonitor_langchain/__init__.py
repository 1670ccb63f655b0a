"""llamonitor callback handler for LangChain and LangGraph."""
