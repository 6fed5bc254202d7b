"""The LESR run: the paper's loop (engine), the LLM's side of an iteration, halving, selection and the summary."""
