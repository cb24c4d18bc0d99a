"""The shared web base: Flask app factory, result store, auth, error pages, plots and the server.

Apps import what they need from here::

    from edgeinv.common.web import WebContext, Store, wants_json
    from edgeinv.common.web.plot import line_plot_svg, bar_plot_svg

and the CLI calls :func:`create_app` / :func:`serve`. Nothing here imports torch.
"""

from __future__ import annotations

from .context import WebContext, current_ctx, wants_json
from .factory import create_app, model_status
from .plot import bar_plot_svg, line_plot_svg
from .server import serve
from .store import Store

__all__ = ["WebContext", "Store", "create_app", "serve", "wants_json", "current_ctx", "model_status",
           "line_plot_svg", "bar_plot_svg"]
