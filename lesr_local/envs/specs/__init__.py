"""Hand-written catalogue entries, one module per env family (pure data: no gymnasium imports)."""
