"""Client and AsyncClient: the same calls and results as an embedded model, over HTTP."""

import asyncio

import numpy as np
import pytest

from mldeploy.api import AsyncClient, Client
from mldeploy.errors import BackendError, NotFoundError, SchemaError
from mldeploy.serving import Model

from _api_data import TOKEN, records

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def model(salary_bundle):
    return Model(salary_bundle)


def test_client_gives_what_the_embedded_model_gives(server, model, new_rows):
    frame = new_rows.head(10)
    with Client(server.url, "salary", token=TOKEN) as remote:
        np.testing.assert_array_equal(remote.predict(frame), model.predict(frame, missing="as-trained"))
        one = records(frame.head(1))[0]
        assert remote.predict(one) == model.predict(one, missing="as-trained")
        pred = remote.infer(records(frame))
        assert str(pred.ref) == "salary@1" and pred.path.value == "compiled" and len(pred) == 10


def test_client_raises_the_same_errors(server, new_rows):
    rows = records(new_rows.head(2))
    rows[1]["age"] = 12.5
    with Client(server.url, "salary", token=TOKEN) as remote:
        with pytest.raises(SchemaError) as caught:
            remote.predict(rows)
        assert [(i.row, i.field, i.expected, i.got) for i in caught.value.issues] == [(1, "age", "a whole number in [0, 93]", "12.5")]
    with Client(server.url, "nothing", token=TOKEN) as remote, pytest.raises(NotFoundError, match='does not serve a model "nothing"'):
        remote.predict(rows[:1])
    with Client("http://127.0.0.1:9", "salary") as remote, pytest.raises(BackendError, match="cannot reach http://127.0.0.1:9"):
        remote.predict(rows[:1])


def test_async_client(server, model, new_rows):
    rows = records(new_rows.head(6))

    async def main():
        async with AsyncClient(server.url, "salary", token=TOKEN) as remote:
            return await asyncio.gather(*(remote.predict(rows[i:i + 2]) for i in range(0, 6, 2)))

    parts = asyncio.run(main())
    np.testing.assert_array_equal(np.concatenate(parts), model.predict(rows, missing="as-trained"))
