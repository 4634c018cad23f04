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

from mldeploy._lazy import lazy_names

# Imported on first use: the manifest reads mldeploy.compiled.plan without loading scikit-learn's pipeline code.
_LAZY = {
    "CompileResult": "mldeploy.compiled.compiler",
    "compile_pipeline": "mldeploy.compiled.compiler",
    "StepPlan": "mldeploy.compiled.plan",
    "CompiledInfo": "mldeploy.compiled.plan",
    "export_onnx": "mldeploy.compiled.export",
    "onnx_inputs": "mldeploy.compiled.export",
    "verify_export": "mldeploy.compiled.export_check",
    "CompiledPipeline": "mldeploy.compiled.predictor",
    "VerifyReport": "mldeploy.compiled.verification",
    "check_engines": "mldeploy.compiled.verification",
    "edge_rows": "mldeploy.compiled.verification",
    "verify": "mldeploy.compiled.verification",
}

__all__ = sorted(_LAZY)

__getattr__ = lazy_names(__name__, _LAZY)
