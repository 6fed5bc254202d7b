"""lesr_local.store"""
