"""lesr_local.envs"""
