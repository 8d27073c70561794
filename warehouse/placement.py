"""Where footfall's tasks may run: the pool and the Celery queue of the tasks that open the warehouse.

DuckDB allows one writing process per database file, and the file lives on one host's disk
(docs/operators/scaling.md). Every task that opens the warehouse therefore

* takes the one-slot Airflow pool :data:`WAREHOUSE_POOL`, so one runs at a time (a second waits
  instead of failing on DuckDB's file lock); `make airflow-init` and the cluster's `up.sh`
  create it;
* goes to the Celery queue :data:`WAREHOUSE_QUEUE`, which only the warehouse host's worker
  serves (``airflow celery worker --queues default,footfall_warehouse``).

Every other task (planning work units, parsing them) stays on Airflow's default queue
(``[operators] default_queue``), which every worker serves. Under the LocalExecutor a queue
means nothing: every task runs on the one machine.
"""

WAREHOUSE_POOL = "footfall_warehouse"
WAREHOUSE_QUEUE = "footfall_warehouse"
