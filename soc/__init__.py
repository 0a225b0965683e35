"""citysoc: the security-operations toolkit of a city information-security center."""

__version__ = "0.1.0"
