"""mlarray.parallel: one code path for local processes and dask clusters."""

from __future__ import annotations

import os

import pytest

from mlarray.parallel import TaskError, WorkerSetupWarning, describe_error, executor, parallel_map, worker_malloc_hint


def test_parallel_map_order_and_errors():
    assert parallel_map(abs, [-3, 2, -1], jobs=2) == [3, 2, 1]
    out = parallel_map(int, ["1", "x", "3"], jobs=2, errors="collect")
    assert out[0] == 1 and out[2] == 3
    assert isinstance(out[1], TaskError) and describe_error(out[1]).startswith("ValueError: invalid literal")
    with pytest.raises(ValueError):
        parallel_map(int, ["1", "x"], jobs=1)
    with pytest.raises(TaskError, match="ValueError"):
        parallel_map(int, ["1", "x"], jobs=2)
    # exceptions that cannot be pickled back (custom __init__) still fail only their item
    from mlarray.dataset_stats import file_summary

    out = parallel_map(file_summary, ["/nonexistent/a.mla", "/nonexistent/b.mla"], jobs=2, errors="collect")
    assert all(isinstance(e, TaskError) and e.kind == "MissingFileError" for e in out)  # a FileNotFoundError


def _blosc2_threads_here(_):
    import blosc2

    return os.environ.get("BLOSC_NTHREADS"), blosc2.nthreads


def test_pool_workers_run_blosc2_on_one_core(monkeypatch):
    # BLOSC_NTHREADS, not only blosc2.nthreads: C-Blosc2's per-chunk offset contexts obey only it.
    monkeypatch.delenv("BLOSC_NTHREADS", raising=False)
    assert parallel_map(_blosc2_threads_here, [0, 1], jobs=2) == [("1", 1), ("1", 1)]
    # the caller's own process keeps Blosc2's defaults
    assert "BLOSC_NTHREADS" not in os.environ


def test_pool_workers_keep_a_blosc_nthreads_the_user_set(monkeypatch):
    monkeypatch.setenv("BLOSC_NTHREADS", "3")
    assert [env for env, _ in parallel_map(_blosc2_threads_here, [0, 1], jobs=2)] == ["3", "3"]


# ----------------------------------------------------------------------------- dask worker set-up

def _local_cluster():
    import distributed

    return distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None)


@pytest.fixture
def environ():
    """os.environ restored afterwards: dask's nanny writes its malloc default into it."""
    saved = dict(os.environ)
    for name in ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_"):
        os.environ.pop(name, None)
    yield os.environ
    os.environ.clear()
    os.environ.update(saved)


def test_dask_default_worker_malloc_gets_a_hint(environ):
    import distributed

    with _local_cluster() as cluster, distributed.Client(cluster) as client:
        hint = worker_malloc_hint(client)
        assert hint is not None and "1 of 1 dask workers" in hint and "MALLOC_MMAP_THRESHOLD_=33554432" in hint
        with pytest.warns(WorkerSetupWarning, match="MALLOC_TRIM_THRESHOLD_"):
            assert parallel_map(abs, [-1, -2], scheduler=client) == [1, 2]


def test_workers_started_with_both_malloc_settings_get_none(environ, recwarn):
    import distributed

    environ.update(MALLOC_TRIM_THRESHOLD_=str(128 * 2**20), MALLOC_MMAP_THRESHOLD_=str(32 * 2**20))
    with _local_cluster() as cluster, distributed.Client(cluster) as client:
        assert set(client.run(os.getenv, "MALLOC_MMAP_THRESHOLD_").values()) == {str(32 * 2**20)}
        assert worker_malloc_hint(client) is None
        with executor(scheduler=cluster.scheduler_address) as ex:
            assert ex.submit(abs, -3).result() == 3
    assert not [w for w in recwarn if issubclass(w.category, WorkerSetupWarning)]
