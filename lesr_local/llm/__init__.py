"""lesr_local.llm"""
