"""The shared core: App contract, training, compression, export, runtime, bench, web base and CLI.

Nothing in here imports `edgeinv.apps`; the apps are found through the `edgeinv.apps` entry points.
"""
