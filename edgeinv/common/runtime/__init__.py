"""Edge-side model runtime: ONNX Runtime sessions, release manifests, model switching, benchmarks.

Nothing in this package imports torch (the bench's torch-eager row imports it in a worker
subprocess only). Import the submodules directly::

    from edgeinv.common.runtime.session import OnnxModel, load_model
    from edgeinv.common.runtime.bundle import read_manifest, verify_release, load_runner
    from edgeinv.common.runtime.switch import ModelSwitcher
    from edgeinv.common.runtime.bench import bench_app, format_table
    from edgeinv.common.runtime.graphstats import graph_stats
"""
