"""Ingestion: find new log bytes, parse them into Parquet, commit them exactly once.

One module per stage, each an Airflow task of ``dags/footfall_ingest.py``:

1. :mod:`~warehouse.ingest.sources`: which files the globs match, recognised by content, and
   from which byte offset each is read (the manifest's reads).
2. :mod:`~warehouse.ingest.planning`: each source's new bytes cut into work units that parse
   tasks map over. Never opens the warehouse.
3. :mod:`~warehouse.ingest.parse_job`: one work unit parsed, enriched and pseudonymised in
   chunks (:mod:`~warehouse.ingest.chunks`), written as staged Parquet
   (:mod:`~warehouse.ingest.event_files`). Never opens the warehouse, so many run at once.
4. :mod:`~warehouse.ingest.commit`: staged files moved into place and registered, the manifest
   advanced, in one transaction, exactly once per byte range.

The aggregates are rebuilt afterwards by :func:`warehouse.aggregation.aggregate`.
"""
