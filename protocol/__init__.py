"""Wire formats and codecs, sans-IO. Everything here must run on MicroPython."""
