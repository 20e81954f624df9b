"""The one package that knows NumPy from CuPy from array-api-strict (and cuDF/cuML).

Every algorithm in gpu_moa is written once against an *array namespace* (``xp``): NumPy on the
CPU, CuPy on a GPU, array-api-strict (on its default device or on ``Device("device1")``, which
behaves like a GPU: no implicit conversion to NumPy, no mixing of devices) in the tests.

=================  ==============================================================================
``_devices``       device requests -> namespaces, GPU probing, install hints, memory, TF32
``_transfers``     ``to_numpy`` / ``to_device`` (every copy counted by ``track_transfers``),
                   ``take_rows`` / ``take_cols``
``_steps``         which backend served each step, with timings (for the report)
``_kernels``       primitives the array API lacks, each with a labelled NumPy fast path:
                   ``segment_sum``, ``average_ranks``, ``eigh``, ``eigh_top``, ``smallest_k``,
                   ``matmul_into``, ``ordered_map`` and ``side_tasks`` (on ``usable_cores``),
                   ``interp_levels``, ``sort_columns``, ``ndtri``
``_topk``          ``topk_rows``: exact row-wise top-k without sorting whole rows
``_ranking``       ``average_precision_rows``: per-row average precision of a score block
=================  ==============================================================================

CuPy, cuDF and cuML are imported lazily and only here, so ``import gpu_moa`` needs NumPy, pandas
and scikit-learn alone.
"""

from gpu_moa._backend._devices import (
    CUPY_INSTALL_HINT,
    RAPIDS_INSTALL_HINT,
    STRICT,
    BackendUnavailableError,
    array_device,
    backend_name,
    device_of,
    free_memory_bytes,
    get_namespace,
    has_cudf,
    has_cuml,
    has_gpu,
    import_cudf,
    import_cuml,
    is_array,
    is_cupy_namespace,
    is_numpy_namespace,
    resolve_array_device,
    resolve_device,
    resolve_xp,
    synchronize,
    tf32_matmul,
)
from gpu_moa._backend._kernels import (
    average_ranks,
    eigh,
    eigh_top,
    interp_levels,
    matmul_into,
    ndtri,
    ordered_map,
    product_buffer,
    segment_sum,
    side_tasks,
    smallest_k,
    sort_columns,
    usable_cores,
)
from gpu_moa._backend._ranking import average_precision_rows
from gpu_moa._backend._steps import (
    StepRecord,
    clear_step_log,
    log_backend,
    step_log,
    timed_step,
)
from gpu_moa._backend._topk import group_width, topk_rows
from gpu_moa._backend._transfers import (
    Transfer,
    TransferLog,
    take_cols,
    take_rows,
    to_device,
    to_numpy,
    track_transfers,
)

__all__ = [
    "CUPY_INSTALL_HINT",
    "RAPIDS_INSTALL_HINT",
    "STRICT",
    "BackendUnavailableError",
    "StepRecord",
    "Transfer",
    "TransferLog",
    "array_device",
    "average_precision_rows",
    "average_ranks",
    "backend_name",
    "clear_step_log",
    "device_of",
    "is_array",
    "eigh",
    "eigh_top",
    "free_memory_bytes",
    "get_namespace",
    "group_width",
    "has_cudf",
    "has_cuml",
    "has_gpu",
    "import_cudf",
    "import_cuml",
    "interp_levels",
    "is_cupy_namespace",
    "is_numpy_namespace",
    "log_backend",
    "matmul_into",
    "ndtri",
    "ordered_map",
    "product_buffer",
    "resolve_array_device",
    "resolve_device",
    "resolve_xp",
    "segment_sum",
    "side_tasks",
    "smallest_k",
    "sort_columns",
    "step_log",
    "synchronize",
    "take_cols",
    "take_rows",
    "tf32_matmul",
    "timed_step",
    "to_device",
    "to_numpy",
    "topk_rows",
    "track_transfers",
    "usable_cores",
]
