"""lesr-local: LLM-Empowered State Representation for RL, run entirely on your own machine."""

__version__ = "0.1.0"
