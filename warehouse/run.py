"""``python -m warehouse.run``: the main job of ``make run``, in one process.

Runs the ingest DAG, then the report DAG for the interval holding the newest event, then the
delivery DAG, each with ``dag.test()``: Airflow's own task execution path (what ``airflow dags
test`` uses: a DAG run in the metadata DB, task instances, XComs, the tasks' own code), started
once instead of once per DAG.

What the terminal shows:

- a progress line per step and per work unit being parsed (lines read, lines/s, time left),
  drawn with ``rich`` on a terminal, plain lines otherwise;
- when a task fails, the cause and what to do (the task's error message, once, no traceback),
  then nothing else. Airflow's own output (its logging, warnings, the tasks' logs and
  tracebacks) goes to a log file, whose path the last message names.

Tasks run without retries here: a failure is reported at once instead of after the retry
delays a scheduler would wait (the scheduled DAGs keep their retries).

Exit status: 0 when all three runs succeeded, 1 when one failed, 2 on a configuration error.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO


@dataclass
class Failure:
    """One task that failed: where, and the error it raised."""

    dag_id: str
    task_id: str
    map_index: int
    error: BaseException | str | None


@dataclass
class Listener:
    """An Airflow listener (``airflow.listeners``) recording task starts and failures."""

    on_start: Callable[[str, str, int], None]
    failures: list[Failure] = field(default_factory=list)

    def hooks(self) -> object:
        """The object to register with Airflow's listener manager (its methods are the hooks)."""
        from airflow.listeners import hookimpl

        listener = self

        class Hooks:
            @hookimpl
            def on_task_instance_running(self, previous_state, task_instance):
                listener.on_start(task_instance.dag_id, task_instance.task_id, task_instance.map_index)

            @hookimpl
            def on_task_instance_failed(self, previous_state, task_instance, error):
                listener.failures.append(
                    Failure(task_instance.dag_id, task_instance.task_id, task_instance.map_index, error)
                )

        return Hooks()


# Logs of earlier runs kept beside the new one; older ones are deleted.
KEEP_LOGS = 20


def log_path() -> Path:
    """Where Airflow's output of this run goes: ``$AIRFLOW_HOME/logs/footfall-run/<UTC time>.log``.

    The :data:`KEEP_LOGS` newest earlier logs are kept, older ones deleted.
    """
    home = Path(os.environ.get("AIRFLOW_HOME") or Path.home() / "airflow")
    folder = home / "logs" / "footfall-run"
    folder.mkdir(parents=True, exist_ok=True)
    for old in sorted(folder.glob("*.log"))[:-KEEP_LOGS]:
        old.unlink(missing_ok=True)
    return folder / f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}.log"


@contextmanager
def output_to(path: Path):
    """Send everything written to file descriptors 1 and 2 (Airflow's logging, warnings, C
    libraries) to ``path``; yields the terminal's standard output and error as text files."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    terminal = os.fdopen(os.dup(saved[0]), "w", buffering=1), os.fdopen(os.dup(saved[1]), "w", buffering=1)
    log = open(path, "a", buffering=1)
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    try:
        yield terminal
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
        for f in (*terminal, log):
            f.close()


def cause(failures: list[Failure]) -> list[str]:
    """The distinct error messages of the failed tasks, in order, as lines (no traceback)."""
    from warehouse.errors import explain

    seen: list[str] = []
    for failure in failures:
        error = failure.error
        if error is None:
            continue
        if isinstance(error, BaseException):
            explanation = explain(error)
            text = explanation.message if explanation else str(error) or type(error).__name__
            if explanation is None and type(error).__name__ not in ("AirflowFailException", "AirflowException"):
                text = f"{type(error).__name__}: {text}"
        else:
            text = str(error)
        if text not in seen:
            seen.append(text)
    return seen


def run(terminal: tuple[TextIO, TextIO], log_file: Path) -> int:
    """Run the three DAGs (see the module docstring); returns the exit status."""
    from airflow.configuration import conf
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk.listener import get_listener_manager

    from warehouse import progress
    from warehouse.cli.summary import last_interval_end
    from warehouse.run_display import Display
    from warehouse.settings import Settings

    out, err = terminal
    display = Display(out)
    listener = Listener(display.task_started)
    hooks = listener.hooks()
    get_listener_manager().add_listener(hooks)
    unsubscribe = progress.subscribe(display.parse_progress)
    try:
        bag = DagBag(dag_folder=conf.get("core", "dags_folder"))
        if bag.import_errors:
            path, message = next(iter(bag.import_errors.items()))
            err.write(f"error: a DAG file does not import ({path}); Airflow's output: {log_file}\n{message.strip()}\n")
            return 2
        settings = Settings.from_env()
        end = None
        with display:
            for dag_id in ("footfall_ingest", "footfall_report", "footfall_delivery"):
                if dag_id != "footfall_ingest" and end is None:
                    end = last_interval_end(settings)
                    if end is None:
                        err.write(
                            "error: no events in the warehouse after the ingest, so there is nothing to report: "
                            "no log line was read or parsed; python -m warehouse.cli check says what the globs "
                            "match and how their lines parse\n"
                        )
                        return 1
                dag = bag.get_dag(dag_id)
                for task in dag.tasks:
                    task.retries = 0
                display.dag_started(dag_id, end)
                dag_run = dag.test(logical_date=end) if end else dag.test()
                display.dag_finished(dag_id, dag_run.state)
                if dag_run.state != "success":
                    break
    finally:
        unsubscribe()
        get_listener_manager().pm.unregister(hooks)
    if listener.failures or dag_run.state != "success":
        failed = ", ".join(sorted({f.task_id for f in listener.failures})) or "a task"
        err.write(f"error: {dag_id} failed at {failed}; Airflow's full output: {log_file}\n")
        for line in cause(listener.failures) or [f"the run ended {dag_run.state}; see the log"]:
            err.write(line + "\n")
        return 1
    out.write(f"ingest, report and delivery done (Airflow's output: {log_file})\n")
    return 0


def main() -> int:
    """Entry point: Airflow's output to a log file, the three DAG runs, a plain error at the end."""
    # The log file gets every task's progress lines; the terminal is kept clear of them anyway.
    os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "INFO"
    log_file = log_path()
    with output_to(log_file) as terminal:
        try:
            return run(terminal, log_file)
        except Exception as exc:
            from warehouse.errors import explain

            explanation = explain(exc)
            if explanation is None:
                import traceback

                traceback.print_exc()  # into the log file
                terminal[1].write(f"error: {type(exc).__name__}: {exc}; the traceback is in {log_file}\n")
                return 1
            terminal[1].write(f"{explanation.message}\n")
            return explanation.exit_code


if __name__ == "__main__":
    sys.exit(main())
