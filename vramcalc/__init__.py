"""vramcalc: will it fit, and on what?"""

__version__ = "0.1.0"
