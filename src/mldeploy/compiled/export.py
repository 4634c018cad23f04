def export_onnx(compiled):
    raise NotImplementedError
