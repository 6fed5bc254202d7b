"""lesr_local.render"""
