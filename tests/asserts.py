"""Small assertions the MicroPython-compatible tests share (no pytest there)."""


def raises_value_error(fn, *args, **kw):
    try:
        fn(*args, **kw)
    except ValueError:
        return True
    return False
