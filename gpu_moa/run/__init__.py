"""The ``gpu-moa run`` pipeline: stages sharing one :class:`RunContext`, then the outputs.

===========================  ====================================================================
``RunContext``, ``Section``  the state the stages share, and one part of the report
``run_stages(ctx)``          summary, eda, embedding, matching and baseline, timed, in order
``write_outputs(ctx)``       metrics.json, summary.md, tables/*.parquet and report.html, atomically
``report``                   the self-contained HTML page (``report.build(ctx, path)``)
``FigureProcess``            renders each stage's figures in a helper process as the run goes on
===========================  ====================================================================
"""

from gpu_moa.run import report
from gpu_moa.run._context import RunContext, Section
from gpu_moa.run._figure_process import FigureProcess
from gpu_moa.run._pipeline import STAGES, run_stages, write_outputs

__all__ = [
    "STAGES",
    "FigureProcess",
    "RunContext",
    "Section",
    "report",
    "run_stages",
    "write_outputs",
]
