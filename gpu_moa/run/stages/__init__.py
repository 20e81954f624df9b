"""Stages of ``gpu-moa run``; each module has ``run(ctx: RunContext) -> None``."""
