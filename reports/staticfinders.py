"""Serve plotly.js from inside the installed plotly package, as one static file.

The package folder holds ~10 MB of other data; this finder exposes only plotly.min.js at
`vendor/plotly.min.js`, so collectstatic and the development server serve the same file and no
page ever loads a chart library from a CDN.
"""

from pathlib import Path

import plotly
from django.contrib.staticfiles.finders import BaseFinder
from django.core.files.storage import FileSystemStorage

PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
PUBLIC_PATH = "vendor/plotly.min.js"


class PlotlyFinder(BaseFinder):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.storage = FileSystemStorage(location=str(PLOTLY_JS.parent))

    def check(self, **kwargs):
        return []

    def find(self, path, find_all=False, **kwargs):
        if path == PUBLIC_PATH:
            return [str(PLOTLY_JS)] if find_all else str(PLOTLY_JS)
        return []

    def list(self, ignore_patterns):
        yield PLOTLY_JS.name, _PrefixedStorage(self.storage)


class _PrefixedStorage(FileSystemStorage):
    def __init__(self, inner: FileSystemStorage):
        super().__init__(location=inner.location)
        self.prefix = "vendor"
