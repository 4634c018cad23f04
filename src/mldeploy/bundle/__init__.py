"""The core: an immutable, verified package of one pipeline version.

It knows nothing about HTTP, Kafka, databases or command lines.
"""

from mldeploy.bundle.bundle import Bundle
from mldeploy.bundle.ref import BundleRef
from mldeploy.bundle.schema import Field, Output, Schema
from mldeploy.bundle.validation import validate

__all__ = ["Bundle", "BundleRef", "Field", "Output", "Schema", "validate"]
