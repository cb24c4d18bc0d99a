"""The vertical apps; each sub-package exposes one App object registered as an `edgeinv.apps` entry point."""
