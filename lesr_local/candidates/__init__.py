"""lesr_local.candidates: LLM-written feature code, from prompt to a checked candidate.

prompts.py     initial / feedback / iteration / repair prompts and the code priming prefix
extract.py     code out of a reply (fenced or bare, prose tolerated)
policy.py      the AST policy (first wall) and annotation stripping
allowlists.py  builtins, numpy, math and value attributes candidate code may touch
sandbox.py     worker-side: apply_limits (rlimits, seccomp, network namespace), load_candidate
semantics.py   worker-side: semantic_check, run by the check worker before any training
worker.py      the check worker subprocess (numpy only: no torch, no gymnasium)
checks.py      engine-side: check_candidate / check_source_on_states (policy here, the rest in the worker)
repair.py      sample_valid_candidate: generate, extract, check, re-ask with the reason
constrain_rule.py  --constrain auto: a measured, remembered free-form validity probe per model file

Candidate code is never executed in the engine or UI process; only sandbox.load_candidate runs it,
and only worker subprocesses call that.
"""
