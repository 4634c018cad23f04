"""Features that alone predict the target are reported; ordinary ones are not."""

import numpy as np
import pandas as pd
import pytest

from mldeploy.ops.leaks import find_leaks

pytestmark = pytest.mark.timeout(60)


def test_a_copy_of_the_target_is_a_leak_and_honest_features_are_not():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 2))
    price = 3 * x[:, 0] + x[:, 1] + rng.normal(scale=0.5, size=3000)
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "final_price": price * 1.1 + 2, "id": [f"L{i}" for i in range(3000)]})
    leaks = find_leaks(frame, pd.Series(price), "regression")
    assert [leak.feature for leak in leaks] == ["final_price"]
    assert leaks[0].describe().startswith('feature "final_price" alone predicts the target (R² 0.99')
    assert "--drop final_price" in leaks[0].describe()


def test_a_status_text_that_encodes_the_label_is_a_leak():
    rng = np.random.default_rng(1)
    label = rng.choice(["churned", "stayed"], 2000)
    status = np.where(label == "churned", "closed", "open")
    frame = pd.DataFrame({"status": status, "tenure": rng.uniform(0, 10, 2000)})
    leaks = find_leaks(frame, pd.Series(label), "classification")
    assert [(leak.feature, leak.metric) for leak in leaks] == [("status", "balanced accuracy")]
