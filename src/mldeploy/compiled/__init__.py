"""The exact compiled form of a fitted pipeline: a row encoder and an ONNX tree graph, as data.

::

    from mldeploy.compiled import compile_pipeline
    result = compile_pipeline(pipeline, sample)      # verified against pipeline.predict
    for step in result.plan:
        print(step.step, step.status, step.reason)
    if result.compiled is not None:
        result.compiled.predict_records([row])       # microseconds per row
        result.compiled.save(bundle_directory)
        model_onnx = export_onnx(result.compiled)     # standalone: raw columns in, predictions out
        verify_export(model_onnx, result.compiled, pipeline, sample).ok   # proven with onnxruntime

onnx and onnxruntime are imported only when a compiled pipeline is built or loaded.
"""

from mldeploy.compiled.compiler import CompileResult, StepPlan, compile_pipeline
from mldeploy.compiled.export import export_onnx, onnx_inputs
from mldeploy.compiled.export_check import verify_export
from mldeploy.compiled.predictor import CompiledPipeline
from mldeploy.compiled.verify import VerifyReport, check_engines, edge_rows, verify

__all__ = ["CompileResult", "CompiledPipeline", "StepPlan", "VerifyReport", "check_engines", "compile_pipeline", "edge_rows",
           "export_onnx", "onnx_inputs", "verify", "verify_export"]
