"""A local Spark session for Splink's Spark backend (``--engine spark``).

One session per process, created on first use and reused: ``local[2]`` (override with
``CHILDLINK_SPARK_MASTER``), few shuffle partitions, the web UI off, logging quiet, the session
time zone UTC, bound to the loopback interface, and Splink's Scala similarity functions
(``jaro_winkler``, ``damerau_levenshtein``, …) on the class path: ``SparkAPI`` registers them
from the jar Splink ships. Splink breaks lineage by writing intermediate tables as parquet under
the checkpoint directory, a private temporary directory removed when the process exits
(:func:`release_tables` deletes a run's tables as soon as the run is done).

``pyspark`` is imported lazily, so the DuckDB engine never pays for it; Spark needs a Java 17+
runtime (``java`` on ``PATH`` or ``JAVA_HOME``).
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from childlink.errors import ChildLinkError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

#: Spark master of the session; a cluster URL runs the same code on a cluster.
MASTER_ENV: Final = "CHILDLINK_SPARK_MASTER"
DEFAULT_MASTER: Final = "local[2]"
#: Driver heap (the driver is the executor in local mode).
DRIVER_MEMORY_ENV: Final = "CHILDLINK_SPARK_DRIVER_MEMORY"
DEFAULT_DRIVER_MEMORY: Final = "2g"
SHUFFLE_PARTITIONS: Final = 8

_LOG4J: Final = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n
"""

_lock = threading.Lock()
_session: SparkSession | None = None
_workdir: Path | None = None


class SparkUnavailableError(ChildLinkError):
    """pyspark or a Java runtime is missing, or the session could not start."""


def java_available() -> bool:
    """Whether a ``java`` executable can be found (``JAVA_HOME`` first, then ``PATH``)."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return True
    return shutil.which("java") is not None


def _remove_workdir() -> None:
    global _workdir
    if _workdir is not None:
        shutil.rmtree(_workdir, ignore_errors=True)
        _workdir = None


def spark_session() -> SparkSession:
    """The process's Spark session, started on first call."""
    global _session, _workdir
    with _lock:
        if _session is not None:
            return _session
        try:
            from pyspark.sql import SparkSession
            from splink.backends.spark import similarity_jar_location
        except ImportError as error:  # pragma: no cover - pyspark is a dependency
            raise SparkUnavailableError(f"the spark engine needs pyspark: {error}") from error
        if not java_available():
            raise SparkUnavailableError(
                "the spark engine needs a Java 17+ runtime: install one (e.g. "
                "openjdk-17-jre-headless) or set JAVA_HOME"
            )
        workdir = Path(tempfile.mkdtemp(prefix="childlink-spark-"))
        if _workdir is None:
            atexit.register(_remove_workdir)
        _workdir = workdir
        log4j = workdir / "log4j2.properties"
        log4j.write_text(_LOG4J, "utf-8")
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        java_options = f"-Dlog4j2.configurationFile=file:{log4j} -Duser.timezone=UTC"
        builder: Any = SparkSession.builder
        builder = (
            builder.master(os.environ.get(MASTER_ENV, DEFAULT_MASTER))
            .appName("childlink-linkage")
            .config("spark.jars", similarity_jar_location())
            .config("spark.driver.memory", os.environ.get(DRIVER_MEMORY_ENV, DEFAULT_DRIVER_MEMORY))
            .config("spark.driver.extraJavaOptions", java_options)
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.sql.shuffle.partitions", str(SHUFFLE_PARTITIONS))
            .config("spark.default.parallelism", str(SHUFFLE_PARTITIONS))
            .config("spark.sql.adaptive.enabled", "true")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.local.dir", str(workdir / "local"))
            .config("spark.sql.warehouse.dir", str(workdir / "warehouse"))
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        )
        try:
            session: SparkSession = builder.getOrCreate()
        except Exception as error:  # py4j/Java start-up failures have no common base class
            raise SparkUnavailableError(f"could not start Spark: {error}") from error
        session.sparkContext.setLogLevel("ERROR")
        session.sparkContext.setCheckpointDir(str(workdir / "checkpoints"))
        for name in ("py4j", "py4j.clientserver", "py4j.java_gateway"):
            logging.getLogger(name).setLevel(logging.WARNING)
        _session = session
        return session


def checkpoint_dir() -> Path | None:
    """Where Splink writes this process's intermediate parquet tables (``None`` before start)."""
    return None if _workdir is None else _workdir / "checkpoints"


def temporary_views(session: SparkSession) -> set[str]:
    """Names of the session's temporary views (Splink's tables are temporary views)."""
    return {table.name for table in session.catalog.listTables() if table.isTemporary}


def release_tables(session: SparkSession, names: set[str]) -> None:
    """Drop the temporary views ``names`` and delete their parquet files, if any."""
    folder = checkpoint_dir()
    for name in names:
        session.catalog.dropTempView(name)
        if folder is not None:
            shutil.rmtree(folder / name, ignore_errors=True)
    session.catalog.clearCache()


def stop_spark() -> None:
    """Stop the process's Spark session (a later call to :func:`spark_session` starts anew)."""
    global _session
    with _lock:
        if _session is not None:
            _session.stop()
            _session = None
        _remove_workdir()
