"""Model engines: local GGUF models through llama.cpp, cloud models through LiteLLM.

Importing this package imports nothing heavy: numpy, gguf, llama.cpp and litellm load only
inside the functions that need them, so the CLI and the desktop shell start fast.
"""
