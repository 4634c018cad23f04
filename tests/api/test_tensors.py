"""V2 tensors whatever the wire: metadata, the outputs a request selects, the raw layout."""

import struct

import numpy as np
import pytest

from mldeploy.api import tensors
from mldeploy.api.tensors import RequestedOutput
from mldeploy.bundle import BundleRef
from mldeploy.bundle.schema import Field, Output, Schema
from mldeploy.errors import UnsupportedError
from mldeploy.serving import Prediction, ServingPath

pytestmark = pytest.mark.timeout(30)

SCHEMA = Schema((Field("age", "integer"), Field("city", "category", categories=("Oslo", "Rome")),
                 Field("remote", "boolean"), Field("hours", "number")), Output("regression"))


def test_each_field_type_has_an_open_inference_protocol_datatype():
    fields = SCHEMA.fields + (Field("note", "string"),)
    assert [tensors.tensor_datatype(f) for f in fields] == ["INT64", "BYTES", "BOOL", "FP64", "BYTES"]


def test_metadata_has_one_typed_input_per_feature():
    metadata = tensors.model_metadata("salary", [1, 2], SCHEMA)
    assert metadata["versions"] == ["1", "2"]
    assert [(i["name"], i["datatype"]) for i in metadata["inputs"]] == [
        ("age", "INT64"), ("city", "BYTES"), ("remote", "BOOL"), ("hours", "FP64")]
    assert metadata["outputs"] == [{"name": "prediction", "datatype": "FP64", "shape": [-1]}]


def test_a_classifier_gives_labels_and_probabilities_in_the_order_asked():
    pred = Prediction(BundleRef("tiers", 1), ServingPath.COMPILED, np.array(["no", "yes"], dtype=object),
                      np.array([[0.9, 0.1], [0.2, 0.8]]), ("no", "yes"))
    wanted = (RequestedOutput("probabilities", True), RequestedOutput("label", False))
    selected = tensors.selected_outputs(pred, wanted, False)
    assert [(o.name, o.binary, datatype, values.shape) for o, datatype, values in selected] == [
        ("probabilities", True, "FP64", (2, 2)), ("label", False, "BYTES", (2,))]
    assert [o.binary for o, _, _ in tensors.selected_outputs(pred, None, True)] == [True, True]
    with pytest.raises(UnsupportedError, match='tiers@1 has no output "prediction"; its outputs are: label, probabilities'):
        tensors.selected_outputs(pred, (RequestedOutput("prediction", False),), False)


def test_raw_layout_is_little_endian_and_length_prefixed_text():
    assert tensors.to_binary("INT64", np.array([1, 2])) == struct.pack("<2q", 1, 2)
    assert tensors.to_binary("BYTES", np.array(["Oslo", "é"], dtype=object)) == b"\x04\0\0\0Oslo\x02\0\0\0\xc3\xa9"
