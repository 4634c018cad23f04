"""Collect ONNX nodes and constants under unique internal names, for the standalone export.

Internal names start with ``mldeploy/`` so they never clash with an input
column's name.
"""

from __future__ import annotations

import numpy as np

from mldeploy._extras import require

__all__ = ["GraphBuilder"]


class GraphBuilder:
    """Append ONNX nodes; every method returns the name of the value it made."""

    def __init__(self) -> None:
        self.nodes: list = []
        self.initializers: list = []
        self._count = 0
        self._cache: dict = {}
        self._onnx = require("onnx")

    def fresh(self, hint: str) -> str:
        """Return a new internal value name."""
        self._count += 1
        return f"mldeploy/{hint}_{self._count}"

    def cached(self, key, make) -> str:
        """Return the value made by ``make()`` the first time ``key`` is seen, and the same value after."""
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def const(self, value, hint: str = "const") -> str:
        """Add a constant tensor (numpy array or scalar) and return its name."""
        array = np.asarray(value)
        if array.dtype.kind in "OUS":
            array = np.asarray([str(v) for v in array.ravel()], dtype=object).reshape(array.shape)
        name = self.fresh(hint)
        self.initializers.append(self._onnx.numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str = "", domain: str = "", output: str | None = None,
           **attributes) -> str:
        """Add one node with one output and return the output's name."""
        out = output or self.fresh(hint or op_type.lower())
        self.nodes.append(self._onnx.helper.make_node(op_type, list(inputs), [out], domain=domain, **attributes))
        return out

    def where(self, condition: str, when_true, when_false: str, output: str | None = None) -> str:
        """Return ``when_true`` (a value name or a float) where ``condition`` holds, else ``when_false``."""
        true = when_true if isinstance(when_true, str) else self.const(np.float64(when_true))
        return self.op("Where", [condition, true, when_false], output=output)

    def any_of(self, conditions: list[str]) -> str:
        """Return the Or of boolean values of one shape."""
        out = conditions[0]
        for condition in conditions[1:]:
            out = self.op("Or", [out, condition])
        return out

    def label_encoder(self, value: str, keys: list[str], codes: list[int], default: int) -> str:
        """Map strings to int64 codes with ``ai.onnx.ml`` LabelEncoder; ``default`` for every other string."""
        onnx = self._onnx
        return self.op(
            "LabelEncoder", [value], "code", domain="ai.onnx.ml",
            keys_tensor=onnx.numpy_helper.from_array(np.asarray(keys, dtype=object)),
            values_tensor=onnx.numpy_helper.from_array(np.asarray(codes, dtype=np.int64)),
            default_tensor=onnx.numpy_helper.from_array(np.asarray([default], dtype=np.int64)),
        )
