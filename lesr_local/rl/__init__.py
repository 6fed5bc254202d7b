"""lesr_local.rl"""
