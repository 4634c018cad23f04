"""Decide which types a bundle's pipeline may contain before anything is loaded.

The list of trusted types comes from the loader (the project's safe defaults
plus what the caller names), never from the bundle itself.
"""

from __future__ import annotations

from collections.abc import Iterable

from mldeploy.errors import UntrustedTypesError

__all__ = ["SAFE_DEFAULT_TYPES", "check_trusted"]

# Types skops does not trust by default but which hold only data: fitted
# tree structures and the scoring functions feature selection refers to.
SAFE_DEFAULT_TYPES = frozenset({
    "numpy.dtype",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.tree._tree.Tree",
    "sklearn.feature_selection._univariate_selection.f_regression",
    "sklearn.feature_selection._univariate_selection.f_classif",
    "sklearn.feature_selection._univariate_selection.r_regression",
    "sklearn.feature_selection._univariate_selection.chi2",
    "sklearn.feature_selection._mutual_info.mutual_info_regression",
    "sklearn.feature_selection._mutual_info.mutual_info_classif",
})


def check_trusted(untrusted: Iterable[str], trusted: Iterable[str] = ()) -> list[str]:
    """Return the exact list to hand to skops, or raise UntrustedTypesError naming every type not trusted."""
    allowed = SAFE_DEFAULT_TYPES | set(trusted)
    found = sorted(set(untrusted))
    refused = [name for name in found if name not in allowed]
    if refused:
        names = ", ".join(refused)
        raise UntrustedTypesError(
            f"bundle contains {len(refused)} type(s) that are not trusted: {names}; if you know this code, "
            f"load with trusted=[{', '.join(repr(n) for n in refused)}]",
            refused,
        )
    return found
