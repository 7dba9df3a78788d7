"""assistcal: the shared calendar of UNSCR 1540 assistance activities."""
