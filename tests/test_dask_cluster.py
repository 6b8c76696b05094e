"""A loss over 10^7 rows in many chunks, on a dask.distributed LocalCluster, equals NumPy.

cross_entropy with class weights and ignore_index: its 'mean' is sum(w_t l) / sum(w_t) over the
whole array, which a mean of per-chunk means would get wrong (the chunks hold different numbers
of ignored targets). Both routes are checked: the loss called on the dask arrays (one lazy graph),
and ``losskit.mean_parts`` per chunk, combined by the client.
"""

from __future__ import annotations

import numpy as np
import pytest

import losskit
import losskit.functional as F

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")

ROWS, CLASSES, CHUNK = 10**7, 4, 500_000  # 20 chunks


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    with distributed.Client(cluster) as client:
        yield client
    cluster.close()


def test_cross_entropy_over_ten_million_rows_equals_numpy(client):
    rng = np.random.default_rng(5)
    # logits grow sharper along the array, so chunk means differ and so do their weight totals
    x = rng.standard_normal((ROWS, CLASSES), dtype=np.float32) * np.linspace(0.1, 4.0, ROWS, dtype=np.float32)[:, None]
    t = rng.integers(0, CLASSES, ROWS)
    t[rng.random(ROWS) < np.linspace(0.0, 0.6, ROWS)] = -1  # later chunks ignore more targets
    w = np.array([0.5, 1.0, 2.0, 1.5], np.float32)
    expected = F.cross_entropy(x, t, weight=w, ignore_index=-1)

    dx = da.from_array(x, chunks=(CHUNK, CLASSES))
    dt = da.from_array(t, chunks=CHUNK)
    dw = da.from_array(w)
    [dx, dt, dw] = client.persist([dx, dt, dw])  # the data lives on the workers
    lazy = F.cross_entropy(dx, dt, weight=dw, ignore_index=-1)
    assert isinstance(lazy, da.Array) and dx.numblocks == (20, 1)
    value = lazy.compute()
    # float32 sums of 10^7 terms in different orders: a few ulp of float32 apart, relatively
    np.testing.assert_allclose(value, expected, rtol=2e-6)

    parts = [
        losskit.mean_parts(F.cross_entropy, dx.blocks[i], dt.blocks[i], weight=dw, ignore_index=-1)
        for i in range(dx.numblocks[0])
    ]
    sums, totals = client.compute([[p[0] for p in parts], [p[1] for p in parts]], sync=True)
    combined = np.sum(np.asarray(sums, np.float64)) / np.sum(np.asarray(totals, np.float64))
    np.testing.assert_allclose(combined, expected, rtol=2e-6)
    mean_of_means = np.mean(np.asarray(sums, np.float64) / np.asarray(totals, np.float64))
    assert abs(mean_of_means - expected) > 1e-3 * abs(expected)  # the naive way is visibly off
