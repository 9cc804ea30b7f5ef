"""Peer for rag_beir.py, run by the peers venv: the same vectors searched in faiss.

Reads VECTORS.npy (corpus) and QUERIES.npy, searches each query alone (as an app does) in an
exact IndexFlatIP and in an IndexHNSWFlat (M=32, inner product), and writes to OUT.json the
top-k row numbers per query, per index, with per-query seconds and the build seconds.
Usage: python faiss_search.py VECTORS.npy QUERIES.npy K OUT.json
"""

from __future__ import annotations

import json
import sys
import time


def main() -> None:
    import faiss
    import numpy as np

    vectors = np.ascontiguousarray(np.load(sys.argv[1]), dtype="float32")
    queries = np.ascontiguousarray(np.load(sys.argv[2]), dtype="float32")
    k = int(sys.argv[3])
    faiss.normalize_L2(vectors)
    faiss.normalize_L2(queries)
    result: dict[str, object] = {"version": faiss.__version__}
    for name in ("flat", "hnsw"):
        started = time.perf_counter()
        if name == "flat":
            index = faiss.IndexFlatIP(vectors.shape[1])
        else:
            index = faiss.IndexHNSWFlat(vectors.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efSearch = max(64, k)
        index.add(vectors)
        build = time.perf_counter() - started
        ranked, seconds = [], []
        for row in range(len(queries)):
            started = time.perf_counter()
            _, ids = index.search(queries[row : row + 1], k)
            seconds.append(time.perf_counter() - started)
            ranked.append([int(i) for i in ids[0] if i >= 0])
        result[name] = {"build_s": build, "ranked": ranked, "seconds": seconds}
    with open(sys.argv[4], "w") as out:
        json.dump(result, out)
    print(json.dumps({"version": faiss.__version__}))


if __name__ == "__main__":
    main()
