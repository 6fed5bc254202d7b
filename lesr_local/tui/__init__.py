"""lesr_local.tui"""
