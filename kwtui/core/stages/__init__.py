"""The pipeline's stages (one module each) and the orchestrator that runs them (pipeline.py)."""
