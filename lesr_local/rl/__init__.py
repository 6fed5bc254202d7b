"""Reinforcement learning inside a training worker: TD3 (td3_autograd.py to read, td3.py to run), the
trainer loop, evaluation, Lipschitz constants, and the parent's side of a training worker."""
