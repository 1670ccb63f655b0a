"""llamonitor instrumentation for LlamaIndex."""
