"""Decide which types a bundle's pipeline may contain before anything is loaded.

The list of trusted types comes from the loader (the project's safe defaults
plus what the caller names), never from the bundle itself.
"""

from __future__ import annotations

from collections.abc import Iterable

from mldeploy._literal_parsing import PARSING_LITERALS
from mldeploy.errors import UntrustedTypesError

__all__ = ["SAFE_DEFAULT_TYPES", "check_loads", "check_trusted"]

# Types skops does not trust by default but which hold only data: fitted
# tree structures and the scoring functions feature selection refers to.
# The last group is what ordinary scikit-learn pipelines need (checked at bundle
# creation, so a bundle that builds also loads): functools.partial, because skops
# rebuilds it from its function and arguments, each of which must be trusted on
# its own; check_array, the pure input check HistGradientBoosting's
# categorical_features keeps in such a partial; make_column_selector, which only
# holds a pattern and dtypes and picks columns by them; and builtins.object and
# numpy.number, which such a selector holds as dtypes to match (type references,
# never called).
SAFE_DEFAULT_TYPES = frozenset({
    "numpy.dtype",
    "functools.partial",
    "sklearn.utils.validation.check_array",
    "sklearn.compose._column_transformer.make_column_selector",
    "builtins.object",
    "numpy.number",
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


def check_loads(data: bytes, trusted: Iterable[str] = ()) -> None:
    """Check, as a bundle is made, that its saved pipeline loads under the default trust plus ``trusted``.

    Raises UntrustedTypesError naming every type a loader would have to trust, so the
    maker learns it now, not the first time another machine loads the bundle.
    """
    import skops.io
    from skops.io.exceptions import UntrustedTypesFoundException

    try:  # load it as a loader would, trusting no more; the types it holds are listed only when it refuses
        with PARSING_LITERALS:
            skops.io.loads(data, trusted=sorted(SAFE_DEFAULT_TYPES | set(trusted)))
        return
    except UntrustedTypesFoundException as exc:
        refused = sorted(set(skops.io.get_untrusted_types(data=data)) - SAFE_DEFAULT_TYPES - set(trusted))
        if not refused:
            raise
        listed = ", ".join(repr(n) for n in refused)
        raise UntrustedTypesError(
            f"the pipeline holds {len(refused)} type(s) a loader does not trust by default: {', '.join(refused)}; "
            f"if you know this code, make the bundle with trusted=[{listed}] and load it with the same",
            refused,
        ) from exc
