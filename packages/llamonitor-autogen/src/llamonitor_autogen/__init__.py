"""llamonitor instrumentation for AutoGen (autogen-agentchat) and AG2."""
