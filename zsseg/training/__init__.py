"""Training of the stage-1 network on seen classes (the zero-shot protocol)."""
