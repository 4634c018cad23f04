"""Export a compiled pipeline as one standalone ONNX model (not built yet).

The runtime graph (``CompiledPipeline.model_bytes``) reads the row encoder's
base values; the standalone export still needs the encoder itself as ONNX
operators (LabelEncoder for categories, Where/IsNaN for imputation, the
domain checks) in front of the same TreeEnsemble node.
"""

from __future__ import annotations

__all__ = ["export_onnx"]


def export_onnx(compiled) -> bytes:
    """Return a standalone ONNX model of the whole pipeline; not implemented yet, so this raises."""
    raise NotImplementedError(
        "export_onnx: the standalone whole-pipeline ONNX graph is not built yet (issue 4); "
        "the compiled runtime graph in CompiledPipeline.model_bytes takes encoded base values, not raw columns"
    )
