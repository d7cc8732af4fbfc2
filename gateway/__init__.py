"""printgw: the on-premises printer fleet gateway."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("printgw")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
