"""The batch job a user writes without mldeploy: read Parquet, ``pipeline.predict``, ``DataFrame.to_sql``.

No validation, no keys checked, no run record, no resume: the baseline that
``mldeploy batch`` is measured against in ``benchmarks/bench_batch.py``, which
runs both side by side. Run it alone with::

    .venv/bin/python benchmarks/handwritten_batch.py --pipeline salary.skops --input people.parquet \\
        --key employee_id --to sqlite:///predictions.db

The pipeline is a skops file (mldeploy bundles keep theirs as ``pipeline.skops``);
its types are trusted as they are listed, as a user loading their own model would.
"""

from __future__ import annotations

import argparse


def main() -> None:
    """Score the input and replace the ``handwritten_predictions`` table with the predictions."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline", required=True, help="the fitted pipeline, saved with skops")
    parser.add_argument("--input", required=True, help="a Parquet file with the key and the feature columns")
    parser.add_argument("--key", required=True, help="the column that names each row")
    parser.add_argument("--to", required=True, help="an SQLAlchemy URL: sqlite:///file.db or postgresql+psycopg://...")
    args = parser.parse_args()

    import pandas as pd
    import skops.io
    import sqlalchemy

    pipeline = skops.io.load(args.pipeline, trusted=skops.io.get_untrusted_types(file=args.pipeline))
    frame = pd.read_parquet(args.input)
    keys = frame.pop(args.key)
    predictions = pd.DataFrame({args.key: keys, "prediction": pipeline.predict(frame)})
    engine = sqlalchemy.create_engine(args.to)
    predictions.to_sql("handwritten_predictions", engine, if_exists="replace", index=False, chunksize=65_536)
    engine.dispose()


if __name__ == "__main__":
    main()
