"""lesr_local.candidates"""
