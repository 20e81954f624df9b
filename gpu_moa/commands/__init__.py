"""Sub-commands of the ``gpu-moa`` CLI, one module each (see :mod:`gpu_moa.cli`)."""
