"""The core: an immutable, verified package of one pipeline version.

It knows nothing about HTTP, Kafka, databases or command lines. Input is checked
against its schema by :mod:`mldeploy.validation`.
"""

from mldeploy.bundle.bundle import Bundle
from mldeploy.bundle.ref import BundleRef
from mldeploy.bundle.schema import Field, Output, Schema

__all__ = ["Bundle", "BundleRef", "Field", "Output", "Schema"]
