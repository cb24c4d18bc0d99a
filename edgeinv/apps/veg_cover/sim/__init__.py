"""Training side of veg-cover: PROSAIL physics, scene layouts, coarse and fine scene rendering, the
dataset simulator and the simulated-scene evaluation. Nothing on the edge path imports this package."""
