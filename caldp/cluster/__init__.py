"""Many datasets on a Dask cluster: the cluster factory (:mod:`.factory`), the memory
model and rungs (:mod:`.memory`) and the batch driver (:mod:`.batch`, ``caldp-batch``).

Only this package chooses between threads, local processes, an existing scheduler and
the cloud; each dataset is always ``caldp.pipeline.dataset_graph``.
"""
